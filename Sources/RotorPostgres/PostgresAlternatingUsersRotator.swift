import Foundation
import Logging
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

    /// The master secret named in the value's `masterarn`: setSecret logs in with it.
    public func secretsUsed(of secret: SecretID, current: @Sendable () async throws -> SecretValue) async throws -> [SecretUse] {
        guard let master = try PostgresSecret(try await current(), secret: secret, requireMaster: true).masterReference else { return [] }
        return [SecretUse(secret: master, why: "postgres-alternating-users changes the password through the master credentials (masterarn)")]
    }

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        let current = try PostgresSecret(request.current, secret: context.secret, requireMaster: true)
        try requireRecordedUser(current.username, context, step: .createSecret)
        let alternate = try Self.alternate(current.username, secret: context.secret)
        return CreateSecretResponse(newValue: current.with(username: alternate, password: try options.newPassword()))
    }

    /// Sets the pending user's password (creating the clone if needed) and makes its memberships the
    /// base user's, in one transaction through the master credentials. Idempotent: a pending user that
    /// already logs in only has its memberships reconciled.
    public func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        let pending = try PostgresSecret(request.pending, secret: context.secret, requireMaster: true)
        let current = try PostgresSecret(request.current, secret: context.secret, requireMaster: true)
        try requireRecordedUser(pending.username, context, step: .setSecret)
        try requireRecordedUser(current.username, context, step: .setSecret)
        guard try Self.alternate(current.username, secret: context.secret) == pending.username, pending.host == current.host, pending.port == current.port else {
            throw RotorError(.invalidRequest, "the pending user is not the alternate of the current one, or the host differs", secret: context.secret, step: .setSecret)
        }
        var masterID = current.master!
        if let reference = current.masterReference { masterID = try await context.store.resolve(nameOrARN: reference) }
        let master = try await masterSecret(masterID, host: current.host, port: current.port, context: context)
        if try await options.connector.canLogIn(pending, id: context.secret, step: .setSecret) {
            try await upsertRole(pending, base: baseUser(current), password: nil, master: master, context: context)
            return SetSecretResponse()
        }
        // Confused-deputy check: only act for credentials that really are current.
        guard try await options.connector.canLogIn(current, id: context.secret, step: .setSecret) else {
            throw RotorError(.authenticationFailed, "the current credentials do not log in; refusing to act through the master credentials",
                             secret: context.secret, step: .setSecret, remedy: "fix the current credentials first (runbooks/postgres-rotation.md)")
        }
        try await upsertRole(pending, base: baseUser(current), password: pending.passwordValue, master: master, context: context)
        return SetSecretResponse()
    }

    /// The pending credentials log in, and the pending user holds every membership the base user has.
    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let pending = try PostgresSecret(request.pending, secret: context.secret, requireMaster: true)
        try requireRecordedUser(pending.username, context, step: .testSecret)
        let base = baseUser(pending)
        let logger = options.connector.logger
        let missing = try await options.connector.withConnection(pending, id: context.secret, step: .testSecret, as: "pending") { connection in
            let expected = try await Self.memberships(of: base, connection, logger: logger).union(pending.username == base ? [] : [base])
            return expected.subtracting(try await Self.memberships(of: pending.username, connection, logger: logger))
        }
        guard missing.isEmpty else {
            throw RotorError(
                .invalidRequest, "the pending user \(pending.username) lacks the base user's role memberships: \(missing.sorted().joined(separator: ", "))",
                secret: context.secret, step: .testSecret, remedy: "the next run reconciles them; check that the master user may grant these roles")
        }
        return TestSecretResponse()
    }

    func masterSecret(_ id: SecretID, host: String, port: Int, context: RotationContext) async throws -> PostgresSecret {
        guard id.environment == context.secret.environment else {
            throw RotorError(.invalidRequest, "the master secret \(id) is in environment \(id.environment), not \(context.secret.environment)",
                             secret: context.secret, step: .setSecret, remedy: "use a master secret of the same environment in masterarn")
        }
        let value = try await context.store.getSecretValue(id, .current).value
        let master = try PostgresSecret(value, secret: id)
        guard master.host == host, master.port == port else {
            throw RotorError(.invalidRequest, "the master secret \(id) is for \(master.host):\(master.port), not \(host):\(port)", secret: context.secret, step: .setSecret)
        }
        return master
    }

    /// The base user (without `_clone`): the recorded one, else the value's.
    func baseUser(_ secret: PostgresSecret) -> String { options.user ?? Self.base(of: secret.username) }

    static func base(of username: String) -> String {
        username.hasSuffix(suffix) && username.count > suffix.count ? String(username.dropLast(suffix.count)) : username
    }

    /// The master credentials act on the recorded user and its clone only; a secret without a recorded
    /// user is refused (rotor records it when it starts managing the secret).
    func requireRecordedUser(_ username: String, _ context: RotationContext, step: RotationStep) throws(RotorError) {
        guard options.user != nil else {
            throw RotorError(.invalidOption, "rotator \(Self.kind) has no recorded user, so it cannot tell which users the master credentials may change",
                             secret: context.secret, step: step, remedy: "set the option user=BASE_USER (ROTOR_OPTION_USER for the Lambda function)")
        }
        try options.requireRecordedUser(username, allowed: { [$0, $0 + Self.suffix] }, secret: context.secret, step: step)
    }

    /// In one transaction: creates the user or sets its password (`nil`: leave it), then makes its
    /// memberships exactly the base user's (plus the base user itself, for the clone).
    func upsertRole(_ pending: PostgresSecret, base: String, password: SecretValue?, master: PostgresSecret, context: RotationContext) async throws {
        let logger = options.connector.logger
        let role = PostgresConnector.quoteIdentifier(pending.username)
        let verifier = password.map { ScramVerifier.make(password: $0) }
        try await options.connector.withConnection(master, id: context.secret, step: .setSecret, as: "master") { connection in
            func run(_ sql: String) async throws { _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect() }
            try await run("BEGIN")
            do {
                let exists = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(pending.username)", logger: logger).collect().count > 0
                if !exists {
                    guard let verifier else { throw RotorError(.invalidRequest, "user \(pending.username) does not exist", secret: context.secret, step: .setSecret) }
                    try await run("CREATE ROLE \(role) WITH LOGIN PASSWORD '\(verifier)'")
                } else if let verifier {
                    try await run("ALTER ROLE \(role) WITH LOGIN PASSWORD '\(verifier)'")
                }
                if pending.username != base {
                    let expected = try await Self.memberships(of: base, connection, logger: logger).union([base])
                    let actual = try await Self.memberships(of: pending.username, connection, logger: logger)
                    for granted in expected.subtracting(actual).sorted() { try await run("GRANT \(PostgresConnector.quoteIdentifier(granted)) TO \(role)") }
                    for revoked in actual.subtracting(expected).sorted() { try await run("REVOKE \(PostgresConnector.quoteIdentifier(revoked)) FROM \(role)") }
                }
                try await run("COMMIT")
            } catch {
                try? await run("ROLLBACK")
                throw error
            }
        }
    }

    /// The roles `user` is a direct member of.
    static func memberships(of user: String, _ connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        Set(try await connection.query("""
            SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON m.roleid = b.oid JOIN pg_roles r ON m.member = r.oid
            WHERE r.rolname = \(user)
            """, logger: logger).collect().map { try $0.decode(String.self) })
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
        initialValue: { _, _ in nil }, weaknesses: PostgresRotatorOptions.weaknesses,
        recordedKeys: ["user"], recordOptions: PostgresRotatorOptions.recordUser(base: { PostgresAlternatingUsersRotator.base(of: $0) }, requireMaster: true))
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
