import Crypto
import Foundation
import RotorCore

/// Seals and opens secret values with AES-256-GCM. The associated data binds each ciphertext to its
/// secret, version and kind, so a row copied onto another secret or version does not open.
struct ValueSealer: Sendable {
    let key: SymmetricKey
    /// Authenticates the unencrypted part of a secret: its versions' labels, order and kinds, and its tags.
    let labelKey: SymmetricKey

    init(_ master: MasterKey) {
        key = master.valueKey
        labelKey = master.labelKey
    }

    /// HMAC-SHA256 over a secret's tags and every version's id, order, date, labels and kind.
    func labelsMAC(_ secret: SecretID, tags: String, versions: [(id: String, seq: Int64, createdAt: Double, stages: String, kind: String)]) -> Data {
        // Every field is length-prefixed, so no field can absorb its neighbours.
        func field(_ text: String) -> String { "\(text.utf8.count):\(text)" }
        var text = "rotor-labels-v2" + field(secret.rawValue) + field(tags) + field("\(versions.count)")
        for version in versions {
            text += field(version.id) + field("\(version.seq)") + field("\(version.createdAt.bitPattern)") + field(version.stages) + field(version.kind)
        }
        return Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: labelKey))
    }
    private static let keyCheckPlaintext = Data("rotor embedded store key check v1".utf8)
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

    func makeKeyCheck() throws -> Data {
        try AES.GCM.seal(Self.keyCheckPlaintext, using: key, authenticating: Self.keyCheckContext).combined ?? Data()
    }

    func verifyKeyCheck(_ record: Data) -> Bool {
        guard let box = try? AES.GCM.SealedBox(combined: record),
              let plain = try? AES.GCM.open(box, using: key, authenticating: Self.keyCheckContext) else { return false }
        return plain == Self.keyCheckPlaintext
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
