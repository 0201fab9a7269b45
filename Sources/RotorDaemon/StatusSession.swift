import Crypto
import Foundation
import Synchronization
import RotorCore

/// The status page's login: whoever gives the API token gets a cookie that proves it for eight
/// hours. The cookie holds the time it was issued and an HMAC of that time under a key derived from
/// the token, never the token itself; it is HttpOnly, Secure and SameSite=Strict, so pages' scripts
/// and other sites cannot use it. Signing out ends every session issued before (until a restart).
/// Browsers do not keep cookies apart by port: on a host other users share, put the page behind a
/// TLS proxy on a name of its own.
final class StatusSession: Sendable {
    static let cookieName = "rotor_session"
    static let lifetime: TimeInterval = 8 * 3600
    let key: SymmetricKey
    private let notBefore = Mutex<TimeInterval>(0)

    init(token: String) {
        key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("rotor status page session v1".utf8), using: SymmetricKey(data: Data(token.utf8))))
    }

    /// Ends every session issued before `now`.
    func revokeAll(at now: Date) { notBefore.withLock { $0 = now.timeIntervalSince1970.rounded(.up) } }

    func cookie(issuedAt: Date) -> String {
        // Never before the last sign-out (whose time is rounded up): a new session is valid at once.
        let issued = String(Int64(max(issuedAt.timeIntervalSince1970, notBefore.withLock { $0 })))
        return "v1.\(issued).\(HMAC<SHA256>.authenticationCode(for: Data(issued.utf8), using: key).hexString)"
    }

    /// Whether `value` is a cookie this daemon issued less than ``lifetime`` ago.
    func isValid(_ value: String, now: Date) -> Bool {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "v1", let issued = Int64(parts[1]),
              let mac = [UInt8](hex: parts[2]), mac.count == 32 else { return false }
        let age = now.timeIntervalSince1970 - TimeInterval(issued)
        guard age >= -60, age < Self.lifetime, TimeInterval(issued) >= notBefore.withLock({ $0 }) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[1].utf8), using: key)
    }

    /// The session cookie's value in a `Cookie` header, if any.
    static func value(in header: String?) -> String? {
        header?.split(separator: ";").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix(cookieName + "=") }.map { String($0.dropFirst(cookieName.count + 1)) }
    }
}
