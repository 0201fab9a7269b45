import Foundation
import RotorCore
import RotorPostgres

/// Where rotor keeps its state when it is PostgreSQL: `postgres://USER@HOST[:PORT]/DATABASE?schema=rotor`
/// with libpq's `sslmode` (`verify-full` by default; `require`, `prefer`, `disable` only when written
/// out) and `sslrootcert` (a CA file). The password never appears in the URL (it would reach argv and
/// logs): it comes from `ROTOR_STATE_PASSWORD` or the file `ROTOR_STATE_PASSWORD_FILE` names.
/// The type redacts the password in every description.
public struct PostgresStateSettings: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public private(set) var host: String
    public private(set) var port: Int
    public private(set) var username: String
    public private(set) var database: String
    /// The schema holding rotor's tables (created if missing): several installations can share a database.
    public private(set) var schema: String
    public private(set) var tls: PostgresTLSMode
    public private(set) var caFile: String?
    /// Connections kept open at most.
    public private(set) var poolSize: Int
    let password: SecretValue

    public var description: String {
        "postgres://\(username)@\(host):\(port)/\(database)?schema=\(schema)&sslmode=\(tls.rawValue) (password: \(SecretValue.redacted))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["description": description], displayStyle: .struct) }

    public init(
        host: String, port: Int = 5432, username: String, password: SecretValue, database: String, schema: String = "rotor",
        tls: PostgresTLSMode = .default, caFile: String? = nil, poolSize: Int = 4
    ) throws(RotorError) {
        guard Self.isPlainName(schema) else {
            throw Self.invalid("schema '\(schema.prefix(64))' is not a plain name (a lower-case letter or _, then letters, digits or _, at most 63)")
        }
        // A schema every role may write into (public before PostgreSQL 15) or the system's own.
        guard schema != "public", schema != "information_schema", !schema.hasPrefix("pg_") else {
            throw Self.invalid("schema '\(schema)' is shared with other roles or the system; give rotor a schema of its own (schema=rotor)")
        }
        guard (1...64).contains(poolSize) else { throw Self.invalid("pool must be 1 to 64 connections") }
        (self.host, self.port, self.username, self.password, self.database) = (host, port, username, password, database)
        (self.schema, self.tls, self.caFile, self.poolSize) = (schema, tls, caFile, poolSize)
    }

    /// Parses a state URL; `environment` supplies the password (`ROTOR_STATE_PASSWORD`, or
    /// `ROTOR_STATE_PASSWORD_FILE`). Every error names what is wrong, never the password.
    public init(url text: String, environment: [String: String]) throws(RotorError) {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? ""),
              let host = url.host, !host.isEmpty else {
            throw Self.invalid("the state URL is not postgres://USER@HOST[:PORT]/DATABASE")
        }
        guard url.password == nil else {
            throw Self.invalid("the state URL carries a password, which would show in argv and logs; nothing was opened")
        }
        guard let user = url.user, !user.isEmpty else { throw Self.invalid("the state URL names no user (postgres://USER@HOST/DATABASE)") }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw Self.invalid("the state URL names no database (postgres://USER@HOST/DATABASE)") }
        var query: [String: String] = [:]
        for item in url.queryItems ?? [] {
            guard ["schema", "sslmode", "sslrootcert", "pool"].contains(item.name) else {
                throw Self.invalid("the state URL's parameter '\(item.name.prefix(32))' is unknown (schema, sslmode, sslrootcert, pool)")
            }
            guard query[item.name] == nil else { throw Self.invalid("the state URL gives '\(item.name)' twice") }
            query[item.name] = item.value ?? ""
        }
        let mode = query["sslmode"] ?? PostgresTLSMode.default.rawValue
        guard let tls = PostgresTLSMode(rawValue: mode) else {
            throw Self.invalid("sslmode '\(mode.prefix(32))' is not one of verify-full, require, prefer, disable")
        }
        guard let pool = Int(query["pool"] ?? "4") else { throw Self.invalid("pool must be a number") }
        try self.init(
            host: host, port: url.port ?? 5432, username: user, password: try Self.password(environment), database: database,
            schema: query["schema"] ?? "rotor", tls: tls, caFile: query["sslrootcert"], poolSize: pool)
    }

    private static func password(_ environment: [String: String]) throws(RotorError) -> SecretValue {
        if let value = environment["ROTOR_STATE_PASSWORD"], !value.isEmpty { return SecretValue(string: value) }
        guard let path = environment["ROTOR_STATE_PASSWORD_FILE"], !path.isEmpty else {
            throw invalid("no password for the state database: set ROTOR_STATE_PASSWORD or ROTOR_STATE_PASSWORD_FILE")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw invalid("ROTOR_STATE_PASSWORD_FILE names a file rotor cannot read")
        }
        let mode = ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard mode & 0o077 == 0 else {
            throw invalid("ROTOR_STATE_PASSWORD_FILE is readable by other users (mode \(String(mode & 0o777, radix: 8))): chmod 600 it")
        }
        let password = text.trimmingCharacters(in: .newlines)
        guard !password.isEmpty else { throw invalid("ROTOR_STATE_PASSWORD_FILE names an empty file") }
        return SecretValue(string: password)
    }

    /// What the TLS mode gives up, when it is weaker than verify-full (shown by `rotor status`).
    public var weakness: String? { tls.weakness }

    static func isPlainName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63, first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    static func invalid(_ problem: String) -> RotorError {
        RotorError(.invalidInput, "state database: \(problem)", remedy: "see runbooks/multi-host.md for the state URL's form")
    }
}
