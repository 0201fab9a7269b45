import Foundation
import PostgresNIO
import RotorCore
import RotorRotators

/// Alternates between `<user>` and `<user>_clone` (AWS's alternating-users strategy): the first
/// rotation creates the clone through the master credentials (the secret's `masterarn`) with the same
/// role memberships; later rotations change the password of whichever user is not current. Both
/// users keep working after a rotation, so clients never see a rejected password.
public struct PostgresAlternatingUsersRotator: Rotator {
    public static let kind: RotatorKind = "postgres-alternating-users"
    public let kind: RotatorKind = Self.kind
    public let hasTarget = true
    let options: PostgresRotatorOptions
    static let suffix = "_clone"

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let current = try PostgresSecret(request.current, secret: context.secret, requireMaster: true)
        let alternate = try Self.alternate(current.username, secret: context.secret)
        return CreateSecretResponse(newValue: current.with(username: alternate, password: try await options.newPassword(context)))
    }

    public func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        let pending = try PostgresSecret(request.pending, secret: context.secret, requireMaster: true)
        if await options.connector.canLogIn(pending, id: context.secret, step: .setSecret) { return SetSecretResponse() }
        let current = try PostgresSecret(request.current, secret: context.secret, requireMaster: true)
        guard try Self.alternate(current.username, secret: context.secret) == pending.username, pending.host == current.host else {
            throw RotorError(.invalidRequest, "the pending user is not the alternate of the current one, or the host differs", secret: context.secret, step: .setSecret)
        }
        // Confused-deputy check: only act for credentials that really are current.
        guard await options.connector.canLogIn(current, id: context.secret, step: .setSecret) else {
            throw RotorError(.authenticationFailed, "the current credentials do not log in; refusing to act through the master credentials",
                             secret: context.secret, step: .setSecret, remedy: "fix the current credentials first (runbooks/postgres-rotation.md)")
        }
        let master = try await masterSecret(current.master!, host: current.host, context: context)
        try await upsertRole(pending: pending, current: current, master: master, context: context)
        return SetSecretResponse()
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let pending = try PostgresSecret(request.pending, secret: context.secret, requireMaster: true)
        try await options.connector.withConnection(pending, id: context.secret, step: .testSecret, as: "pending") { connection in
            _ = try await connection.query("SELECT now()", logger: options.connector.logger).collect()
        }
        return TestSecretResponse()
    }

    func masterSecret(_ id: SecretID, host: String, context: RotationContext) async throws -> PostgresSecret {
        let value = try await context.store.getSecretValue(id, .current).value
        let master = try PostgresSecret(value, secret: id)
        guard master.host == host else {
            throw RotorError(.invalidRequest, "the master secret \(id) is for host \(master.host), not \(host)", secret: context.secret, step: .setSecret)
        }
        return master
    }

    /// Creates the alternate user with the current user's memberships, or sets its password.
    func upsertRole(pending: PostgresSecret, current: PostgresSecret, master: PostgresSecret, context: RotationContext) async throws {
        let logger = options.connector.logger
        let role = PostgresConnector.quoteIdentifier(pending.username)
        let verifier = ScramVerifier.make(password: pending.passwordValue)
        try await options.connector.withConnection(master, id: context.secret, step: .setSecret, as: "master") { connection in
            let exists = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(pending.username)", logger: logger).collect().count > 0
            guard !exists else {
                _ = try await connection.query(PostgresQuery(unsafeSQL: "ALTER ROLE \(role) WITH PASSWORD '\(verifier)'"), logger: logger).collect()
                return
            }
            let memberships = try await connection.query("""
                SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON m.roleid = b.oid JOIN pg_roles r ON m.member = r.oid
                WHERE r.rolname = \(current.username)
                """, logger: logger).collect().map { try $0.decode(String.self) }
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(role) WITH LOGIN PASSWORD '\(verifier)'"), logger: logger).collect()
            for granted in [current.username] + memberships {
                _ = try await connection.query(PostgresQuery(unsafeSQL: "GRANT \(PostgresConnector.quoteIdentifier(granted)) TO \(role)"), logger: logger).collect()
            }
        }
    }

    /// `<user>` ⇄ `<user>_clone`, within PostgreSQL's 63-byte identifier limit.
    static func alternate(_ username: String, secret: SecretID) throws(RotorError) -> String {
        let alternate = username.hasSuffix(suffix) ? String(username.dropLast(suffix.count)) : username + suffix
        guard !alternate.isEmpty, alternate.utf8.count <= 63 else {
            throw RotorError(.invalidInput, "the alternate user name '\(alternate.prefix(80))' would exceed PostgreSQL's 63-byte limit", secret: secret,
                             remedy: "use a user name of at most 57 bytes")
        }
        return alternate
    }

    public static let descriptor = RotatorDescriptor(
        kind: kind, summary: "PostgreSQL, alternating <user> and <user>_clone through the master secret", options: PostgresRotatorOptions.help,
        build: { options throws(RotorError) in PostgresAlternatingUsersRotator(options: try PostgresRotatorOptions(options, kind: kind)) },
        initialValue: { _, _ in nil })
}

extension RotatorRegistry {
    /// The built-in rotators plus the PostgreSQL ones.
    public static let withPostgres: RotatorRegistry = {
        var registry = RotatorRegistry.builtIn
        registry.register(PostgresSingleUserRotator.descriptor)
        registry.register(PostgresAlternatingUsersRotator.descriptor)
        return registry
    }()
}
