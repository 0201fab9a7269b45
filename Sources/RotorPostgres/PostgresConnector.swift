import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import RotorCore

/// How to protect the connection: off, encrypted without verification, or encrypted and verified
/// against a CA file (host name included).
public enum PostgresTLSMode: String, Sendable, CaseIterable {
    case disable, prefer, require
    case verifyFull = "verify-full"
}

/// Opens PostgreSQL connections with a secret's credentials (SCRAM-SHA-256), and turns PostgreSQL
/// errors into rotor errors that say what went wrong without any password or connection string.
public struct PostgresConnector: Sendable {
    public var tls: PostgresTLSMode?
    public var caFile: String?
    public var connectTimeout: Duration
    let logger: Logger

    public init(tls: PostgresTLSMode? = nil, caFile: String? = nil, connectTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "rotor.postgres")) {
        self.tls = tls
        self.caFile = caFile
        self.connectTimeout = connectTimeout
        self.logger = logger
    }

    /// Runs `body` on a connection logged in as `secret`'s user, then closes it.
    public func withConnection<T: Sendable>(
        _ secret: PostgresSecret, id: SecretID, step: RotationStep?, as role: String = "current",
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        var configuration = PostgresConnection.Configuration(
            host: secret.host, port: secret.port, username: secret.username, password: secret.password, database: secret.database,
            tls: try tlsSetting(secret))
        configuration.options.connectTimeout = .milliseconds(Int64(connectTimeout.seconds * 1000))
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        } catch {
            throw Self.map(error, secret: secret, id: id, step: step, role: role)
        }
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw Self.map(error, secret: secret, id: id, step: step, role: role)
        }
    }

    /// Whether `secret`'s credentials log in (and a query runs).
    public func canLogIn(_ secret: PostgresSecret, id: SecretID, step: RotationStep?) async -> Bool {
        (try? await withConnection(secret, id: id, step: step) { connection in
            _ = try await connection.query("SELECT 1", logger: logger).collect()
        }) != nil
    }

    func tlsSetting(_ secret: PostgresSecret) throws -> PostgresConnection.Configuration.TLS {
        let mode = tls ?? (secret.ssl.map { $0 ? .require : .disable } ?? .prefer)
        switch mode {
        case .disable:
            return .disable
        case .prefer, .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            let context = try NIOSSLContext(configuration: configuration)
            return mode == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .fullVerification
            if let caFile { configuration.trustRoots = .file(caFile) }
            return .require(try NIOSSLContext(configuration: configuration))
        }
    }

    /// Maps a connection or server error to a clear rotor error. Never includes the password or DSN.
    static func map(_ error: any Error, secret: PostgresSecret, id: SecretID, step: RotationStep?, role: String) -> RotorError {
        if let error = error as? RotorError { return error }
        let target = "\(secret.username)@\(secret.host):\(secret.port)/\(secret.database) (\(role) credentials)"
        guard let psql = error as? PSQLError else {
            return RotorError(.transient, "PostgreSQL \(target) is unreachable: \(type(of: error))", secret: id, step: step,
                              remedy: "check the host, port and network", isTransient: true)
        }
        let state = psql.serverInfo?[.sqlState] ?? ""
        let message = psql.serverInfo?[.message].map { String($0.prefix(200)) } ?? "\(psql.code)"
        switch (psql.code, state) {
        case (_, "28P01"), (_, "28000"):
            return RotorError(.authenticationFailed, "PostgreSQL rejected the login for \(target)", secret: id, step: step,
                              remedy: "check the username and password stored in the secret")
        case (_, "42704"):
            return RotorError(.invalidRequest, "PostgreSQL role missing for \(target): \(message)", secret: id, step: step)
        case (_, "42501"):
            return RotorError(.accessDenied, "PostgreSQL permission denied for \(target): \(message)", secret: id, step: step,
                              remedy: "grant the privilege (runbooks/postgres-rotation.md lists what each strategy needs)")
        case (.connectionError, _), (.serverClosedConnection, _), (.uncleanShutdown, _), (.clientClosedConnection, _):
            return RotorError(.transient, "PostgreSQL \(target) is unreachable or closed the connection", secret: id, step: step,
                              remedy: "check that the server is up and reachable", isTransient: true)
        default:
            return RotorError(.remoteFailure, "PostgreSQL error for \(target): \(state.isEmpty ? "" : "[\(state)] ")\(message)", secret: id, step: step)
        }
    }

    /// A role name as a quoted SQL identifier.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
