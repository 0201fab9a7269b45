import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import RotorCore

/// How to protect the connection, as libpq names the modes. `verify-full` (the default) checks the
/// certificate chain against the system's or `ca-file`'s roots and the host name; every weaker mode
/// must be chosen explicitly, and rotor reports it wherever the secret's settings are shown.
public enum PostgresTLSMode: String, Sendable, CaseIterable {
    case disable, prefer, require
    case verifyFull = "verify-full"

    public static let `default`: PostgresTLSMode = .verifyFull

    /// What a weaker mode gives up, for `rotor validate`, `plan --explain`, `status` and the audit log.
    public var weakness: String? {
        switch self {
        case .verifyFull: nil
        case .require: "tls=require: the connection is encrypted but the server's certificate is not verified, so anything on the path can relay the login and act as the user (the master user, for alternating users)"
        case .prefer: "tls=prefer: TLS is used only if the server offers it, and its certificate is not verified, so anything on the path can relay the login and act as the user"
        case .disable: "tls=disable: no TLS: anything on the path sees the session and can relay the login and act as the user"
        }
    }
}

/// Opens PostgreSQL connections with a secret's credentials and turns PostgreSQL errors into rotor
/// errors that say what went wrong without any password or connection string. Only SCRAM-SHA-256
/// authentication is answered, in every TLS mode (``AuthenticationGuard``); every session has bounded
/// statement and lock timeouts.
public struct PostgresConnector: Sendable {
    public var tls: PostgresTLSMode
    public var caFile: String?
    public var connectTimeout: Duration
    public var statementTimeout: Duration
    public var lockTimeout: Duration
    let logger: Logger

    public init(
        tls: PostgresTLSMode = .default, caFile: String? = nil, connectTimeout: Duration = .seconds(10),
        statementTimeout: Duration = .seconds(30), lockTimeout: Duration = .seconds(10), logger: Logger = Logger(label: "rotor.postgres")
    ) {
        self.tls = tls
        self.caFile = caFile
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.lockTimeout = lockTimeout
        self.logger = logger
    }

    /// Runs `body` on a connection logged in as `secret`'s user, then closes it.
    public func withConnection<T: Sendable>(
        _ secret: PostgresSecret, id: SecretID, step: RotationStep?, as role: String = "current",
        _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection: PostgresConnection
        do {
            connection = try await connect(secret)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw Self.map(error, secret: secret, id: id, step: step, role: role)
        }
        do {
            // A cancelled step (its timeout, a lost lock) closes the connection, so a query cannot outlive it.
            let result = try await withTaskCancellationHandler { try await body(connection) } onCancel: { let closing: EventLoopFuture<Void> = connection.close(); _ = closing }
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            if Task.isCancelled { throw CancellationError() }
            throw Self.map(error, secret: secret, id: id, step: step, role: role)
        }
    }

    /// Whether `secret`'s credentials log in (and a query runs). A peer rotor refuses to trust
    /// (``RotorError/Code/insecurePeer``) is not "cannot log in": that error is thrown, so it reaches the operator.
    public func canLogIn(_ secret: PostgresSecret, id: SecretID, step: RotationStep?) async throws -> Bool {
        do {
            try await withConnection(secret, id: id, step: step) { connection in
                _ = try await connection.query("SELECT 1", logger: logger).collect()
            }
            return true
        } catch let error as RotorError where error.code == .insecurePeer {
            throw error
        } catch {
            // A cancelled step closes its connection; that is the cancellation, not "cannot log in".
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            return false
        }
    }

    /// How long TLS and the login may take after the TCP connection is up: bounded, so a server that
    /// stalls the handshake cannot hold a step, and generous, since SCRAM's key derivation is slow work.
    public static let loginTimeout: TimeAmount = .seconds(60)

    /// TCP (within the connect timeout), TLS and the authentication guard, then postgres-nio's
    /// start-up (within ``loginTimeout``).
    private func connect(_ secret: PostgresSecret) async throws -> PostgresConnection {
        try await open(host: secret.host, port: secret.port, username: secret.username, password: secret.passwordValue, database: secret.database)
    }

    /// Opens a connection with this connector's TLS mode, SCRAM-only guard and timeouts (rotor's own
    /// state database uses it too); `parameters` are further settings sent at start-up (`search_path`).
    /// The caller closes it. Errors are postgres-nio's or ``GuardedChannel``'s: pass them to
    /// ``refusal(_:target:id:step:)`` to tell a refused peer from an unreachable one.
    public func open(
        host: String, port: Int, username: String, password: SecretValue, database: String, parameters: [(String, String)] = []
    ) async throws -> PostgresConnection {
        let timeout = TimeAmount.milliseconds(Int64(connectTimeout.seconds * 1000))
        let (channel, deadline) = try await GuardedChannel.open(
            host: host, port: port, mode: tls, caFile: caFile, connectTimeout: timeout, loginTimeout: Self.loginTimeout)
        var configuration = PostgresConnection.Configuration(
            establishedChannel: channel, tls: .disable, username: username, password: password.exposedString ?? "", database: database)
        configuration.options.additionalStartupParameters = [
            ("statement_timeout", "\(Self.milliseconds(statementTimeout))"),
            ("lock_timeout", "\(Self.milliseconds(lockTimeout))"),
        ] + parameters
        defer { deadline.cancel() }
        return try await withTaskCancellationHandler {
            try await PostgresConnection.connect(on: channel.eventLoop, configuration: configuration, id: 1, logger: logger).get()
        } onCancel: { channel.close(promise: nil) }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Maps a connection or server error to a clear rotor error. Never includes the password or DSN.
    static func map(_ error: any Error, secret: PostgresSecret, id: SecretID, step: RotationStep?, role: String) -> RotorError {
        if let error = error as? RotorError { return error }
        let target = "\(secret.username)@\(secret.host):\(secret.port)/\(secret.database) (\(role) credentials)"
        if let refusal = refusal(error, target: target, id: id, step: step) { return refusal }
        guard let psql = error as? PSQLError else {
            // Channel and I/O errors say what failed (refused, timed out) and carry no credentials.
            let detail = error is ChannelError || error is IOError ? "\(error)" : "\(type(of: error))"
            return RotorError(.transient, "PostgreSQL \(target) is unreachable: \(detail.prefix(200))", secret: id, step: step,
                              remedy: "check the host, port and network", isTransient: true)
        }
        let state = psql.serverInfo?[.sqlState] ?? ""
        // The server's text, as data: no control characters (a hostile server must not forge log lines).
        let message = psql.serverInfo?[.message].map { String(String($0.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }).prefix(200)) } ?? "\(psql.code)"
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

    /// The connection failed because rotor refused to continue (weak authentication, TLS declined or
    /// not verified): never transient, since retrying would offer the same server the same chance.
    public static func refusal(_ error: any Error, target: String, id: SecretID?, step: RotationStep?) -> RotorError? {
        let cause = (error as? PSQLError)?.underlying ?? error
        switch cause {
        case let refused as PostgresAuthenticationRefused:
            return RotorError(
                .insecurePeer, "PostgreSQL \(target) asked for \(refused.method); rotor answers only SCRAM-SHA-256 and sent no password",
                secret: id, step: step,
                remedy: "set password_encryption = scram-sha-256, reset the user's password, and use scram-sha-256 in pg_hba.conf; if the server is not yours, something on the path is impersonating it")
        case let failure as GuardedChannel.Failure:
            return RotorError(.insecurePeer, "PostgreSQL \(target): \(failure.problem); no password was sent", secret: id, step: step, remedy: failure.remedy)
        case let tls as NIOSSLError:
            return RotorError(
                .insecurePeer, "PostgreSQL \(target): the TLS handshake failed (\(tls)); no password was sent", secret: id, step: step,
                remedy: "give the server's CA with the rotator option ca-file, and connect by a host name its certificate names")
        case let tls as NIOSSLExtraError:
            return RotorError(
                .insecurePeer, "PostgreSQL \(target): the server's certificate does not match (\(tls)); no password was sent", secret: id, step: step,
                remedy: "connect by a host name or address the certificate names, or give the right CA with ca-file")
        case let tls as BoringSSLError:
            return RotorError(
                .insecurePeer, "PostgreSQL \(target): the server's certificate was not trusted (\(tls)); no password was sent", secret: id, step: step,
                remedy: "give the server's CA with the rotator option ca-file")
        default:
            return nil
        }
    }

    /// A role name as a quoted SQL identifier.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
