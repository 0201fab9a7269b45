import Foundation
import RotorCore

/// A typed view of a secret's value. JSON shapes get ``decode(_:)`` from `Decodable`; a decoding
/// error names the field and the problem, never a value.
public protocol SecretShape: Sendable {
    static func decode(_ value: SecretVersionValue) throws -> Self
}

extension SecretShape where Self: Decodable {
    public static func decode(_ value: SecretVersionValue) throws -> Self {
        guard let text = value.value.exposedString else {
            throw SecretsClientError.undecodable(value.secret, shape: "\(Self.self)", reason: "the value is binary, not JSON text")
        }
        do {
            return try JSONDecoder().decode(Self.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw SecretsClientError.undecodable(value.secret, shape: "\(Self.self)", reason: Self.reason(error))
        }
    }

    /// What went wrong and where, from the error's kind and coding path only (its debug text may quote the input).
    static func reason(_ error: DecodingError) -> String {
        let path = { (context: DecodingError.Context) in context.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let context): return "field '\((path(context).isEmpty ? "" : path(context) + ".") + key.stringValue)' is missing"
        case .typeMismatch(let type, let context): return "field '\(path(context))' is not \(type)"
        case .valueNotFound(let type, let context): return "field '\(path(context))' is null, expected \(type)"
        case .dataCorrupted(let context): return context.codingPath.isEmpty ? "the value is not valid JSON" : "field '\(path(context))' is malformed"
        @unknown default: return "the value does not match"
        }
    }
}

/// Database credentials in AWS's documented shape for rotation (`engine`, `host`, `port`,
/// `username`, `password`, `dbname`, and `masterarn` for the alternating-users strategy).
public struct DatabaseCredentials: SecretShape, Decodable, Equatable, CustomStringConvertible {
    public let engine: String?
    public let host: String
    public let port: Int?
    public let username: String
    public let password: SecretValue
    public let dbname: String?
    public let masterarn: String?

    enum CodingKeys: String, CodingKey { case engine, host, port, username, password, dbname, masterarn }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        engine = try container.decodeIfPresent(String.self, forKey: .engine)
        host = try container.decode(String.self, forKey: .host)
        // Secrets Manager's own templates write the port as a number; some consoles write a string.
        if let number = try? container.decodeIfPresent(Int.self, forKey: .port) { port = number } else {
            port = try container.decodeIfPresent(String.self, forKey: .port).flatMap(Int.init)
        }
        username = try container.decode(String.self, forKey: .username)
        password = SecretValue(string: try container.decode(String.self, forKey: .password))
        dbname = try container.decodeIfPresent(String.self, forKey: .dbname)
        masterarn = try container.decodeIfPresent(String.self, forKey: .masterarn)
    }

    public var description: String { "DatabaseCredentials(\(username)@\(host):\(port.map(String.init) ?? "-")/\(dbname ?? "-"), password: \(SecretValue.redacted))" }
}

/// A third-party API token as ADR-0016 stores it (`token`, `username`, `permissions`).
public struct APIToken: SecretShape, Decodable, Equatable, CustomStringConvertible {
    public let token: SecretValue
    public let username: String?
    public let permissions: [String]

    enum CodingKeys: String, CodingKey { case token, username, permissions }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        token = SecretValue(string: try container.decode(String.self, forKey: .token))
        username = try container.decodeIfPresent(String.self, forKey: .username)
        permissions = try container.decodeIfPresent([String].self, forKey: .permissions) ?? []
    }

    public var description: String { "APIToken(\(username ?? "-"), permissions: \(permissions), token: \(SecretValue.redacted))" }
}

/// A service's API key as ADR-0016 stores it (`apiKey`, `baseUrl`, `model`).
public struct ServiceAPIKey: SecretShape, Decodable, Equatable, CustomStringConvertible {
    public let apiKey: SecretValue
    public let baseUrl: String?
    public let model: String?

    enum CodingKeys: String, CodingKey { case apiKey, baseUrl, model }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiKey = SecretValue(string: try container.decode(String.self, forKey: .apiKey))
        baseUrl = try container.decodeIfPresent(String.self, forKey: .baseUrl)
        model = try container.decodeIfPresent(String.self, forKey: .model)
    }

    public var description: String { "ServiceAPIKey(\(baseUrl ?? "-"), \(model ?? "-"), apiKey: \(SecretValue.redacted))" }
}

/// An encryption key: the value's bytes (`SecretBinary`, as rotor's encryption-key rotator writes
/// it), or base64 text. 16, 24 or 32 bytes.
public struct EncryptionKey: SecretShape, Equatable, CustomStringConvertible {
    public let version: VersionID
    public let bytes: SecretValue

    public static func decode(_ value: SecretVersionValue) throws -> EncryptionKey {
        let raw: [UInt8]
        if value.value.kind == .binary {
            raw = value.value.exposedBytes
        } else if let text = value.value.exposedString, let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            raw = Array(data)
        } else {
            throw SecretsClientError.undecodable(value.secret, shape: "EncryptionKey", reason: "the value is neither binary nor base64 text")
        }
        guard [16, 24, 32].contains(raw.count) else {
            throw SecretsClientError.undecodable(value.secret, shape: "EncryptionKey", reason: "a key is 16, 24 or 32 bytes, not \(raw.count)")
        }
        return EncryptionKey(version: value.versionID, bytes: SecretValue(bytes: raw))
    }

    public var description: String { "EncryptionKey(version \(version), \(bytes.byteCount) bytes: \(SecretValue.redacted))" }
}

/// The keys to open data sealed before and after the last rotation: `current` (AWSCURRENT) seals
/// new data; `previous` (AWSPREVIOUS, when there is one) still opens what was sealed before it.
public struct KeyRing: Sendable, Equatable, CustomStringConvertible {
    public let current: EncryptionKey
    public let previous: EncryptionKey?

    /// Current first, then previous: the order to try when the data does not name its key's version.
    public var keys: [EncryptionKey] { [current] + (previous.map { [$0] } ?? []) }

    /// The key of `version`, for data that records which key sealed it.
    public func key(version: VersionID) -> EncryptionKey? { keys.first { $0.version == version } }

    public var description: String { "KeyRing(current: \(current.version), previous: \(previous.map { "\($0.version)" } ?? "none"))" }
}

/// Why ``SecretsClient`` could not give a typed value.
public enum SecretsClientError: Error, Equatable, CustomStringConvertible, Sendable {
    case undecodable(SecretID, shape: String, reason: String)

    public var description: String {
        switch self {
        case .undecodable(let secret, let shape, let reason): "the value of \(secret) is not a \(shape): \(reason)"
        }
    }
}
