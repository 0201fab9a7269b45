import Crypto
import Foundation
import RotorCore

/// Seals and opens secret values with AES-256-GCM. The associated data binds each ciphertext to its
/// secret, version and kind, so a row copied onto another secret or version does not open.
struct ValueSealer: Sendable {
    let key: SymmetricKey
    /// Authenticates the unencrypted part of a secret: its versions' labels, order and kinds, and its
    /// tags. Keyed once: each MAC starts from a copy (HMAC's state is copied on write).
    private let labelMAC: HMAC<SHA256>

    init(_ master: MasterKey) {
        key = master.valueKey
        labelMAC = HMAC<SHA256>(key: master.labelKey)
    }

    /// HMAC-SHA256 over a secret's tags and every version's id, order, date, labels and kind.
    func labelsMAC(_ secret: SecretID, tags: String, versions: [StoredVersion]) -> Data {
        var mac = labelMAC
        mac.update(data: Self.labelsText(secret, tags: tags, versions: versions))
        return Data(mac.finalize())
    }

    /// What ``labelsMAC(_:tags:versions:)`` authenticates. Every field is length-prefixed in decimal
    /// (`12:text`), so no field can absorb its neighbours; numbers are fields of their decimal digits.
    /// Read on every access to a secret, so numbers are written without making strings.
    static func labelsText(_ secret: SecretID, tags: String, versions: [StoredVersion]) -> [UInt8] {
        var text: [UInt8] = []
        text.reserveCapacity(64 + tags.utf8.count + versions.count * 96)
        func decimal(_ value: UInt64) {
            var divisor: UInt64 = 1
            while value / divisor >= 10 { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        func digitCount(_ value: UInt64) -> UInt64 {
            var count: UInt64 = 1
            var rest = value
            while rest >= 10 { rest /= 10; count += 1 }
            return count
        }
        func field(_ value: String) {
            decimal(UInt64(value.utf8.count))
            text.append(UInt8(ascii: ":"))
            text.append(contentsOf: value.utf8)
        }
        func field(_ value: UInt64) {
            decimal(digitCount(value))
            text.append(UInt8(ascii: ":"))
            decimal(value)
        }
        func field(_ value: Int64) {
            if value >= 0 { field(UInt64(value)) } else { field(String(value)) }
        }
        text.append(contentsOf: "rotor-labels-v2".utf8)
        field(secret.rawValue)
        field(tags)
        field(Int64(versions.count))
        for version in versions {
            field(version.id)
            field(version.seq)
            field(version.createdAt.bitPattern)
            field(version.stages)
            field(version.kind)
        }
        return text
    }

    /// What a store's key-check record says besides "this is the key": whether the store was written
    /// before labels and rotator options were authenticated (so their MACs may be added once).
    enum KeyCheck: Sendable { case legacy, sealed }

    private static let legacyKeyCheckPlaintext = Data("rotor embedded store key check v1".utf8)
    private static let sealedKeyCheckPlaintext = Data("rotor embedded store key check v2: labels and rotator options sealed".utf8)
    private static let keyCheckContext = Data("key-check".utf8)

    func seal(_ value: SecretValue, secret: SecretID, version: VersionID) throws -> Data {
        let box = try AES.GCM.seal(value.exposedBytes, using: key, authenticating: Self.context(secret, version, value.kind))
        guard let combined = box.combined else { throw RotorError(.storeUnavailable, "AES-GCM produced no sealed box", secret: secret) }
        return combined
    }

    func open(_ sealed: Data, kind rawKind: String, secret: SecretID, version: VersionID) throws -> SecretValue {
        guard let kind = SecretValue.Kind(rawValue: rawKind) else { throw tampered(secret, version) }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let bytes = try AES.GCM.open(box, using: key, authenticating: Self.context(secret, version, kind))
            switch kind {
            case .binary: return SecretValue(bytes: Array(bytes))
            case .string: return SecretValue(string: String(decoding: bytes, as: UTF8.self))
            }
        } catch {
            throw tampered(secret, version)
        }
    }

    /// A key-check record for a store whose rows all carry their MACs. Only the key can make one, so an
    /// attacker cannot turn a sealed store back into one whose unsealed rows would be sealed as found.
    func makeKeyCheck(_ kind: KeyCheck = .sealed) throws -> Data {
        let plaintext = kind == .sealed ? Self.sealedKeyCheckPlaintext : Self.legacyKeyCheckPlaintext
        return try AES.GCM.seal(plaintext, using: key, authenticating: Self.keyCheckContext).combined ?? Data()
    }

    /// The record's kind, or `nil` when this key did not make it.
    func verifyKeyCheck(_ record: Data) -> KeyCheck? {
        guard let box = try? AES.GCM.SealedBox(combined: record),
              let plain = try? AES.GCM.open(box, using: key, authenticating: Self.keyCheckContext) else { return nil }
        switch plain {
        case Self.sealedKeyCheckPlaintext: return .sealed
        case Self.legacyKeyCheckPlaintext: return .legacy
        default: return nil
        }
    }

    private static func context(_ secret: SecretID, _ version: VersionID, _ kind: SecretValue.Kind) -> Data {
        Data("rotor-v1\u{0}\(secret.rawValue)\u{0}\(version.rawValue)\u{0}\(kind.rawValue)".utf8)
    }

    private func tampered(_ secret: SecretID, _ version: VersionID) -> RotorError {
        RotorError(
            .storeCorrupted, "the value of version \(version) does not decrypt: the row was altered or moved", secret: secret,
            remedy: "restore the embedded store from a backup")
    }
}
