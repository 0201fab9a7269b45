import Foundation
import RotorCore

/// A database secret in AWS's JSON shape: `engine`, `host`, `port`, `username`, `password`,
/// `dbname`, optional `ssl`, and `masterarn` (the id of the admin secret) for alternating users.
/// Other keys are kept as they are. It redacts itself like every secret.
public struct PostgresSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var host: String
    public var port: Int
    public var username: String
    var password: String
    public var database: String
    public var ssl: Bool?
    public var master: SecretID?
    /// `masterarn` as written: a partial ARN whose name ends like a suffix is resolved against the store.
    public var masterReference: String?
    /// The JSON as stored, so that writing back keeps every other key.
    private let original: String

    public var description: String { "PostgresSecret(\(username)@\(host):\(port)/\(database), password: \(SecretValue.redacted))" }
    public var debugDescription: String { description }
    /// `dump` and `Mirror` see only the redacted description, never the password or the stored JSON.
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }

    /// Parses a secret value; the error names the field that is missing or wrong, never a value.
    public init(_ value: SecretValue, secret: SecretID, requireMaster: Bool = false) throws(RotorError) {
        guard let text = value.exposedString, let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw Self.invalid(secret, "the value is not a JSON object with engine, host, username, password")
        }
        func string(_ key: String, required: Bool = true) throws(RotorError) -> String? {
            switch object[key] {
            case let text as String where !text.isEmpty: return text
            case nil where !required, is NSNull where !required: return nil
            case nil, is NSNull: throw Self.invalid(secret, "field '\(key)' is missing")
            default: throw Self.invalid(secret, "field '\(key)' must be a non-empty string")
            }
        }
        let engine = try string("engine")!
        guard ["postgres", "aurora-postgresql"].contains(engine) else {
            throw Self.invalid(secret, "field 'engine' is not postgres or aurora-postgresql")
        }
        host = try string("host")!
        username = try string("username")!
        password = try string("password")!
        database = try string("dbname", required: false) ?? "postgres"
        switch object["port"] {
        case nil, is NSNull: port = 5432
        case let number as NSNumber where (1...65535).contains(number.intValue): port = number.intValue
        case let text as String where Int(text).map({ (1...65535).contains($0) }) == true: port = Int(text)!
        default: throw Self.invalid(secret, "field 'port' must be a number from 1 to 65535")
        }
        switch object["ssl"] {
        case nil, is NSNull: ssl = nil
        case let flag as Bool: ssl = flag
        case let text as String where ["true", "false"].contains(text.lowercased()): ssl = text.lowercased() == "true"
        default: throw Self.invalid(secret, "field 'ssl' must be true or false")
        }
        let masterText = try string("masterarn", required: requireMaster)
        masterReference = masterText
        do { master = try masterText.map { text throws(RotorError) in try SecretID(nameOrARN: text) } } catch {
            throw Self.invalid(secret, "field 'masterarn' is not a secret id (/environment/service/type/name) or a Secrets Manager ARN")
        }
        original = text
    }

    /// The same secret with another user and/or password, as a secret value (JSON, keys sorted).
    public func with(username: String? = nil, password: SecretValue) -> SecretValue {
        var object = (try? JSONSerialization.jsonObject(with: Data(original.utf8))) as? [String: Any] ?? [:]
        object["username"] = username ?? self.username
        object["password"] = password.exposedString ?? ""
        return SecretValue(jsonObject: object)
    }

    var passwordValue: SecretValue { SecretValue(string: password) }

    static func invalid(_ secret: SecretID, _ problem: String) -> RotorError {
        RotorError(.invalidInput, "database secret: \(problem)", secret: secret,
                   remedy: "store JSON like {\"engine\":\"postgres\",\"host\":…,\"port\":5432,\"username\":…,\"password\":…,\"dbname\":…}; nothing was changed")
    }
}
