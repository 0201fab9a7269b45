import Foundation
import Logging
import RotorCore

/// Options both PostgreSQL rotators take.
struct PostgresRotatorOptions: Sendable {
    var password: PasswordPolicy
    var connector: PostgresConnector

    static let help: [String: String] = [
        "password-length": "length of generated passwords (default 32)",
        "exclude-characters": "characters never used in passwords (default :/@\"'\\)",
        "tls": "disable, prefer, require or verify-full (default from the secret's ssl field)",
        "ca-file": "CA certificates (PEM) for tls=verify-full",
        "connect-timeout": "seconds to wait for a connection (default 5)",
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
        var tls: PostgresTLSMode?
        if let raw = options["tls"] {
            guard let mode = PostgresTLSMode(rawValue: raw) else { throw invalid("tls", "disable, prefer, require or verify-full") }
            tls = mode
        }
        if let file = options["ca-file"], !FileManager.default.fileExists(atPath: file) { throw invalid("ca-file", "a readable PEM file") }
        var timeout: Duration = .seconds(5)
        if let raw = options["connect-timeout"] {
            guard let seconds = Double(raw), seconds > 0, seconds <= 300 else { throw invalid("connect-timeout", "seconds, 0-300") }
            timeout = .milliseconds(Int64(seconds * 1000))
        }
        connector = PostgresConnector(tls: tls, caFile: options["ca-file"], connectTimeout: timeout)
    }

    func newPassword(_ context: RotationContext) async throws -> SecretValue {
        try await context.store.getRandomPassword(password)
    }
}
