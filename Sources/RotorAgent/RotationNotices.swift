import Crypto
import Foundation
import RotorCore

/// rotor's message to the agents on its host that it finished rotating a secret: the agent drops
/// the old value at once instead of serving it until the TTL ends. It names the secret and the new
/// version, never a value; the agent fetches the value itself on the next read.
public struct RotationNotice: Codable, Sendable, Equatable {
    public let secretId: String
    public let versionId: String

    public init(secretId: String, versionId: String) {
        self.secretId = secretId
        self.versionId = versionId
    }

    /// Where an agent accepts notices (POST, signed; no SSRF token, the signature stands for it).
    public static let path = "/rotor/v1/rotated"
    /// A notice's body is small; anything larger is refused unread.
    public static let maximumBodySize = 4096
}

/// Signs and checks notices: `X-Rotor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>`
/// with the agent's own random key, accepted within five minutes of the agent's clock. A replay
/// within that window only drops a cache entry again (one more upstream read).
public struct NoticeSigner: Sendable {
    public static let header = "X-Rotor-Signature"
    public static let tolerance: TimeInterval = 300
    let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// A fresh random 256-bit key.
    public static func random() -> NoticeSigner { NoticeSigner(key: SymmetricKey(size: .bits256)) }

    public func signature(body: [UInt8], at date: Date) -> String {
        let time = Int(date.timeIntervalSince1970)
        return "t=\(time),v1=\(mac(body, time: time).hexString)"
    }

    /// Whether `header` is a valid signature of `body`, made within the tolerance of `now`.
    public func verify(_ header: String?, body: [UInt8], now: Date) -> Bool {
        guard let (time, presented) = Self.parse(header, now: now) else { return false }
        // Constant-time comparison, through swift-crypto's MAC type.
        return HMAC<SHA256>.isValidAuthenticationCode(presented, authenticating: Self.signed(body, time: time), using: key)
    }

    /// Whether `header` is well formed and recent: checked before the body is read.
    public func isTimely(_ header: String?, now: Date) -> Bool { Self.parse(header, now: now) != nil }

    static func parse(_ header: String?, now: Date) -> (time: Int, mac: [UInt8])? {
        guard let header, header.utf8.count <= 200 else { return nil }
        var time: Int?
        var presented: [UInt8]?
        for part in header.split(separator: ",") {
            if part.hasPrefix("t=") { time = Int(part.dropFirst(2)) }
            if part.hasPrefix("v1=") { presented = [UInt8](hex: part.dropFirst(3)) }
        }
        guard let time, let presented, presented.count == 32, abs(now.timeIntervalSince1970 - TimeInterval(time)) <= tolerance else { return nil }
        return (time, presented)
    }

    func mac(_ body: [UInt8], time: Int) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.signed(body, time: time), using: key))
    }

    static func signed(_ body: [UInt8], time: Int) -> [UInt8] { Array("\(time).".utf8) + body }

    /// The key as written to the agent's registration file.
    var base64Key: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }
}
