import Crypto
import Foundation
import RotorCore

/// The embedded store's 256-bit master key. It is never stored in the store's file: it comes from
/// `ROTOR_MASTER_KEY` (base64) or from a key file (mode 0600), created on first use only.
public struct MasterKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let key: SymmetricKey

    public var description: String { "MasterKey(\(SecretValue.redacted))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["key": SecretValue.redacted], displayStyle: .struct) }

    public init(bytes: [UInt8]) throws(RotorError) {
        guard bytes.count == 32 else {
            throw RotorError(.wrongMasterKey, "the master key must be 32 bytes, got \(bytes.count)",
                             remedy: "generate one with: head -c 32 /dev/urandom | base64")
        }
        key = SymmetricKey(data: bytes)
    }

    /// Parses a base64 key, as in `ROTOR_MASTER_KEY`.
    public init(base64 text: String, source: String) throws(RotorError) {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw RotorError(.wrongMasterKey, "\(source) is not valid base64", remedy: "generate a key with: head -c 32 /dev/urandom | base64")
        }
        try self.init(bytes: Array(data))
    }

    /// A fresh random key.
    public static func generate() -> MasterKey {
        // 32 random bytes always make a valid key.
        try! MasterKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// The key that authenticates each secret's labels and tags (what is stored unencrypted).
    var labelKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("rotor embedded store v1 labels".utf8), outputByteCount: 32)
    }

    /// The key that authenticates the rotator and options recorded for each secret in the state database.
    var rotatorConfigKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("rotor state v1 rotator config".utf8), outputByteCount: 32)
    }

    /// The key that seals values, derived so the master key itself never touches data.
    var valueKey: SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data("rotor embedded store v1 values".utf8), outputByteCount: 32)
    }
}

/// Where the master key comes from.
public enum MasterKeySource: Sendable {
    /// From `ROTOR_MASTER_KEY` when set, else from `keyFile`.
    case environmentOrFile(environment: [String: String], keyFile: URL)

    public static let environmentVariable = "ROTOR_MASTER_KEY"

    /// Loads the key. A missing key file is created only when `mayCreate` (the store does not exist yet),
    /// so a lost key is never silently replaced by a new one.
    public func load(mayCreate: Bool) throws -> MasterKey {
        switch self {
        case .environmentOrFile(let environment, let keyFile):
            if let text = environment[Self.environmentVariable], !text.isEmpty {
                return try MasterKey(base64: text, source: Self.environmentVariable)
            }
            return try Self.loadFile(keyFile, mayCreate: mayCreate)
        }
    }

    static func loadFile(_ url: URL, mayCreate: Bool) throws -> MasterKey {
        guard FileManager.default.fileExists(atPath: url.path) else {
            guard mayCreate else {
                throw RotorError(
                    .wrongMasterKey, "the embedded store exists but its master key file \(url.path) is missing",
                    remedy: "restore the key file, or set ROTOR_MASTER_KEY to the store's key; rotor will not create a new key for an existing store")
            }
            let key = MasterKey.generate()
            // Another process may have created it first: then its key is the one.
            guard try KeyFile.createDurably(url, contents: Array((key.base64 + "\n").utf8)) else { return try loadFile(url, mayCreate: false) }
            return key
        }
        let mode = (try? FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? 0
        guard mode & 0o077 == 0 else {
            throw RotorError(
                .wrongMasterKey, String(format: "master key file %@ is readable by others (mode %o)", url.path, mode),
                remedy: "run: chmod 600 \(url.path)")
        }
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RotorError(
                .wrongMasterKey, "master key file \(url.path) is empty",
                remedy: "restore the key file from your backup (or set ROTOR_MASTER_KEY); rotor never replaces the key of an existing store")
        }
        do {
            return try MasterKey(base64: text, source: "master key file \(url.path)")
        } catch {
            throw RotorError(error.code, error.summary, remedy: "restore the key file from your backup (it must hold the base64 of 32 bytes); rotor never replaces the key of an existing store")
        }
    }
}
