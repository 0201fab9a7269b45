import Foundation
import Logging
import RotorCore

/// Options both PostgreSQL rotators take.
struct PostgresRotatorOptions: Sendable {
    var password: PasswordPolicy
    var connector: PostgresConnector
    /// The database user this secret rotates, recorded when rotor started managing it: the rotators
    /// never act on another user, whatever the secret's value says later.
    var user: String?

    static let help: [String: String] = [
        "password-length": "length of generated passwords (default 32)",
        "exclude-characters": "characters never used in passwords (default :/@\"'\\)",
        "tls": "verify-full (default: certificate and host name checked), or the weaker require, prefer, disable; the secret's ssl field never weakens it",
        "ca-file": "CA certificates (PEM) that verify the server (default: the system's trust roots)",
        "connect-timeout": "seconds for the TCP connection (default 10; TLS and the login then have up to 60 more)",
        "statement-timeout": "seconds any statement may run, e.g. an ALTER ROLE waiting for a lock (default 30)",
        "lock-timeout": "seconds a statement may wait for a lock (default 10)",
        "user": "the database user this secret rotates (recorded from the value when rotor starts managing the secret; for alternating users, the base user)",
    ]

    init(_ options: RotatorOptions, kind: RotatorKind) throws(RotorError) {
        func invalid(_ key: String, _ expected: String) -> RotorError {
            RotorError(.invalidOption, "option \(key)=\(options[key]?.prefix(64) ?? "") is invalid for rotator \(kind): expected \(expected)")
        }
        var length = 32
        if let raw = options["password-length"] {
            guard let value = Int(raw), (8...4096).contains(value) else { throw invalid("password-length", "8-4096") }
            length = value
        }
        password = PasswordPolicy(length: length, excludeCharacters: options["exclude-characters"] ?? ":/@\"'\\")
        do { try password.validate() } catch { throw RotorError(.invalidOption, "\(error.summary) (rotator \(kind))") }
        var tls = PostgresTLSMode.default
        if let raw = options["tls"] {
            guard let mode = PostgresTLSMode(rawValue: raw) else { throw invalid("tls", "verify-full, require, prefer or disable") }
            tls = mode
        }
        if let file = options["ca-file"], !FileManager.default.isReadableFile(atPath: file) { throw invalid("ca-file", "a readable PEM file") }
        func seconds(_ key: String, default value: Double) throws(RotorError) -> Duration {
            guard let raw = options[key] else { return .milliseconds(Int64(value * 1000)) }
            guard let seconds = Double(raw), seconds.isFinite, seconds > 0, seconds <= 300 else { throw invalid(key, "seconds, more than 0 and at most 300") }
            return .milliseconds(Int64(seconds * 1000))
        }
        user = options["user"]
        if let user, user.isEmpty || user.utf8.count > 63 { throw invalid("user", "a PostgreSQL role name of 1-63 bytes") }
        connector = PostgresConnector(
            tls: tls, caFile: options["ca-file"], connectTimeout: try seconds("connect-timeout", default: 10),
            statementTimeout: try seconds("statement-timeout", default: 30), lockTimeout: try seconds("lock-timeout", default: 10))
    }

    /// What the options weaken, in words for operators (empty when nothing is).
    static func weaknesses(_ options: RotatorOptions) -> [String] {
        options["tls"].flatMap(PostgresTLSMode.init(rawValue:))?.weakness.map { [$0] } ?? []
    }

    /// Refuses a value that names a user other than the recorded one (a confused-deputy attempt, or a
    /// value edited by hand): `allowed` lists the users this strategy may act on.
    func requireRecordedUser(_ username: String, allowed: (String) -> [String], secret: SecretID, step: RotationStep?) throws(RotorError) {
        guard let user else { return }
        guard allowed(user).contains(username) else {
            throw RotorError(
                .invalidRequest, "the secret names database user '\(username.prefix(63))', but rotor manages it for '\(user)' only", secret: secret, step: step,
                remedy: "restore the secret's username to \(user); to manage another user, create a new secret for it")
        }
    }

    /// The `record` function of both descriptors: adds `user` from the first value, or checks it.
    static func recordUser(base: @escaping @Sendable (String) -> String, requireMaster: Bool) -> @Sendable (RotatorOptions, SecretValue, SecretID) throws(RotorError) -> RotatorOptions {
        { options, value, id throws(RotorError) in
            let secret = try PostgresSecret(value, secret: id, requireMaster: requireMaster)
            let user = base(secret.username)
            if let given = options["user"] {
                guard given == user else {
                    throw RotorError(.invalidOption, "option user=\(given.prefix(63)) does not match the secret's username '\(secret.username.prefix(63))'", secret: id,
                                     remedy: "leave user out (rotor records it from the value) or correct it")
                }
                return options
            }
            return RotatorOptions(options.values.merging(["user": user]) { $1 })
        }
    }

    func newPassword() throws(RotorError) -> SecretValue {
        try password.generate()
    }
}
