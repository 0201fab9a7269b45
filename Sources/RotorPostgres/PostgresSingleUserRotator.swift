import Foundation
import PostgresNIO
import RotorCore

/// Changes one user's password (AWS's single-user strategy). setSecret is idempotent (pending
/// credentials that already log in mean done) and recovers an interrupted rotation by logging in
/// with the previous credentials when the current ones no longer work. The new password reaches the
/// server only as a SCRAM-SHA-256 verifier computed here.
public struct PostgresSingleUserRotator: Rotator {
    public static let kind: RotatorKind = "postgres-single-user"
    public let kind: RotatorKind = Self.kind
    public let hasTarget = true
    let options: PostgresRotatorOptions

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let current = try PostgresSecret(request.current, secret: context.secret)
        try options.requireRecordedUser(current.username, allowed: { [$0] }, secret: context.secret, step: .createSecret)
        return CreateSecretResponse(newValue: current.with(password: try options.newPassword()))
    }

    public func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        let pending = try PostgresSecret(request.pending, secret: context.secret)
        try options.requireRecordedUser(pending.username, allowed: { [$0] }, secret: context.secret, step: .setSecret)
        if try await options.connector.canLogIn(pending, id: context.secret, step: .setSecret) { return SetSecretResponse() }
        let current = try PostgresSecret(request.current, secret: context.secret)
        guard pending.username == current.username, pending.host == current.host else {
            throw RotorError(.invalidRequest, "the pending secret's user or host differs from the current one", secret: context.secret, step: .setSecret)
        }
        let admin = try await loginSource(current: current, previous: request.previous, pending: pending, context: context)
        try await setPassword(of: pending.username, to: pending.passwordValue, loggedInAs: admin, context: context, step: .setSecret)
        return SetSecretResponse()
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let pending = try PostgresSecret(request.pending, secret: context.secret)
        try await options.connector.withConnection(pending, id: context.secret, step: .testSecret, as: "pending") { connection in
            _ = try await connection.query("SELECT now()", logger: options.connector.logger).collect()
        }
        return TestSecretResponse()
    }

    /// Puts the current password back if the database already has the pending one.
    public func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        let restore = try PostgresSecret(request.restore, secret: context.secret)
        try options.requireRecordedUser(restore.username, allowed: { [$0] }, secret: context.secret, step: nil)
        if try await options.connector.canLogIn(restore, id: context.secret, step: nil) { return }
        guard let discardValue = request.discard else {
            throw RotorError(.rollbackFailed, "neither the current nor the pending credentials log in", secret: context.secret,
                             remedy: "reset the user's password to the AWSCURRENT value by hand (runbooks/postgres-rotation.md)")
        }
        let discard = try PostgresSecret(discardValue, secret: context.secret)
        try await setPassword(of: restore.username, to: restore.passwordValue, loggedInAs: discard, context: context, step: nil)
    }

    /// The credentials to change the password with: current, else previous (a rotation that changed
    /// the password but never finished).
    func loginSource(current: PostgresSecret, previous: SecretValue?, pending: PostgresSecret, context: RotationContext) async throws -> PostgresSecret {
        if try await options.connector.canLogIn(current, id: context.secret, step: .setSecret) { return current }
        if let previous, let old = try? PostgresSecret(previous, secret: context.secret), old.username == pending.username, old.host == pending.host,
           old.port == pending.port, try await options.connector.canLogIn(old, id: context.secret, step: .setSecret) {
            return old
        }
        throw RotorError(.authenticationFailed, "unable to log into the database with the previous, current or pending credentials",
                         secret: context.secret, step: .setSecret, remedy: "reset the password by hand to the AWSCURRENT value (runbooks/postgres-rotation.md)")
    }

    func setPassword(of role: String, to password: SecretValue, loggedInAs admin: PostgresSecret, context: RotationContext, step: RotationStep?) async throws {
        let sql = "ALTER ROLE \(PostgresConnector.quoteIdentifier(role)) WITH PASSWORD '\(ScramVerifier.make(password: password))'"
        try await options.connector.withConnection(admin, id: context.secret, step: step) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: options.connector.logger).collect()
        }
    }

    public static let descriptor = RotatorDescriptor(
        kind: kind, summary: "PostgreSQL, one user: ALTER ROLE with a client-computed SCRAM verifier", options: PostgresRotatorOptions.help,
        build: { options throws(RotorError) in PostgresSingleUserRotator(options: try PostgresRotatorOptions(options, kind: kind)) },
        initialValue: { _, _ in nil }, weaknesses: PostgresRotatorOptions.weaknesses,
        recordedKeys: ["user"], recordOptions: PostgresRotatorOptions.recordUser(base: { $0 }, requireMaster: false))
}
