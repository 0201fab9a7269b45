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
        // Every field is length-prefixed, so no field can absorb its neighbours.
        var text: [UInt8] = []
        text.reserveCapacity(64 + versions.count * 96)
        func field(_ value: String) {
            text.append(contentsOf: String(value.utf8.count).utf8)
            text.append(UInt8(ascii: ":"))
            text.append(contentsOf: value.utf8)
        }
        text.append(contentsOf: "rotor-labels-v2".utf8)
        field(secret.rawValue)
        field(tags)
        field(String(versions.count))
        for version in versions {
            field(version.id)
            field(String(version.seq))
            field(String(version.createdAt.bitPattern))
            field(version.stages)
            field(version.kind)
        }
        var mac = labelMAC
        mac.update(data: text)
        return Data(mac.finalize())
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
