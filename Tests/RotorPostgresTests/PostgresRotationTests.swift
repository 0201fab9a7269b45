import Foundation
import Logging
import Testing
import RotorCore
import RotorPostgres
import RotorRotators

/// Both PostgreSQL strategies against the real server, with the embedded store and with Secrets Manager.
@Suite(.enabled(if: PG.enabled, "PostgreSQL runs under 'make test'"))
struct PostgresRotationTests {
    @Test(arguments: StoreKind.available)
    func singleUserRotationChangesThePasswordAndOnlyAVerifierReachesTheServer(store kind: StoreKind) async throws {
        let engine = try kind.engine()
        let user = PG.unique("app")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'")
        let id = kind.id("orders/db-credentials/app")
        try await engine.createManagedSecret(id, rotator: "postgres-single-user", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: user, password: "initial-password-0")))
        var seen: [SecretValue] = []
        for _ in 0..<2 {
            let report = try await engine.rotate(id)
            #expect(report.succeeded, "\(report.error.map(String.init(describing:)) ?? "")")
            let current = try await engine.store.getSecretValue(id, .current).value
            #expect(try await PG.canLogIn(current))
            seen.append(current)
        }
        #expect(try await !PG.canLogIn(user: user, password: "initial-password-0"))
        #expect(try await !PG.canLogIn(seen[0]))
        // log_statement=all: the server logged ALTER ROLE with a SCRAM verifier, never the password.
        let log = (try? String(contentsOfFile: try PG.require().log, encoding: .utf8)) ?? ""
        for value in seen {
            let password = (try JSONSerialization.jsonObject(with: Data(value.exposedString!.utf8)) as! [String: Any])["password"] as! String
            #expect(!log.contains(password))
        }
        #expect(log.contains("SCRAM-SHA-256$4096:"))
    }

    @Test(arguments: StoreKind.available)
    func alternatingUsersCreateTheCloneWithTheSameMembershipsAndBothWork(store kind: StoreKind) async throws {
        let engine = try kind.engine()
        let (admin, readers, user) = (PG.unique("rotor_admin"), PG.unique("readers"), PG.unique("app"))
        try await PG.admin("CREATE ROLE \(admin) WITH LOGIN CREATEROLE PASSWORD 'admin-password-0'")
        try await PG.admin("CREATE ROLE \(readers) NOLOGIN")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0' IN ROLE \(readers)")
        let masterID = kind.id("orders/db-credentials/master")
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: admin, password: "admin-password-0")))
        let id = SecretID(unchecked: "/\(masterID.environment)/orders/db-credentials/app")
        try await engine.createManagedSecret(id, rotator: "postgres-alternating-users", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: user, password: "initial-password-0", master: masterID)))
        let first = try await engine.rotate(id)
        #expect(first.succeeded, "\(first.error.map(String.init(describing:)) ?? "")")
        let afterFirst = try await engine.store.getSecretValue(id, .current).value
        #expect(afterFirst.exposedString!.contains("\"\(user)_clone\""))
        #expect(try await PG.canLogIn(afterFirst))
        #expect(try await PG.canLogIn(user: user, password: "initial-password-0"))
        try await expectMember("\(user)_clone", of: readers)

        let second = try await engine.rotate(id)
        #expect(second.succeeded)
        let afterSecond = try await engine.store.getSecretValue(id, .current).value
        #expect(afterSecond.exposedString!.contains("\"username\":\"\(user)\""))
        #expect(try await PG.canLogIn(afterSecond))
        #expect(try await PG.canLogIn(afterFirst), "the clone keeps working after the next rotation")
    }

    @Test(arguments: StoreKind.available)
    func wrongMasterCredentialsAreAClearErrorAndChangeNothing(store kind: StoreKind) async throws {
        let engine = try kind.engine()
        let user = PG.unique("app")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'")
        let masterID = kind.id("orders/db-credentials/master")
        let pg = try PG.require()
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: pg.user, password: "not-the-password")))
        let id = SecretID(unchecked: "/\(masterID.environment)/orders/db-credentials/app")
        let initial = SecretValue(string: try PG.json(user: user, password: "initial-password-0", master: masterID))
        try await engine.createManagedSecret(id, rotator: "postgres-alternating-users", options: PG.options, initialValue: initial)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.summary.contains("master credentials") == true, "\(report.error.map(String.init(describing:)) ?? "")")
        #expect(try await engine.store.getSecretValue(id, .current).value == initial)
        #expect(try await PG.canLogIn(initial))
        #expect(try await !PG.canLogIn(user: "\(user)_clone", password: "x"))
    }

    @Test(arguments: [RotationStep.setSecret, .testSecret])
    func theDatabaseGoingDownRollsBackCleanly(during step: RotationStep) async throws {
        let pg = try PG.require()
        let proxy = try await CuttableProxy(target: pg.port)
        var rotators = RotatorRegistry.withPostgres
        rotators.register(RotatorDescriptor(
            kind: "cutting", summary: "test", options: [:],
            build: { _ throws(RotorError) in CuttingRotator(base: try RotatorRegistry.withPostgres.make("postgres-single-user", options: PG.options), proxy: proxy, step: step) },
            initialValue: { _, _ in nil }))
        let engine = try StoreKind.embedded.engine(rotators: rotators)
        let user = PG.unique("app")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'")
        let id = StoreKind.embedded.id("orders/db-credentials/app")
        let initial = SecretValue(string: try PG.json(user: user, password: "initial-password-0", port: proxy.port))
        try await engine.createManagedSecret(id, rotator: "cutting", options: RotatorOptions(), initialValue: initial)

        let failed = try await engine.rotate(id)
        #expect(failed.outcome != .succeeded)
        #expect(try await engine.store.getSecretValue(id, .current).value == initial)
        try await proxy.restore()
        if failed.outcome == .rollingBack {
            // The rollback needed the database; now that it is back, the next run completes it.
            #expect(try await engine.rotate(id).outcome == .rolledBack)
        }
        #expect(try await PG.canLogIn(initial), "the AWSCURRENT credentials work after the rollback")
        #expect(try await engine.state.openRotation(for: id) == nil)
        #expect(try await engine.store.describeSecret(id).holder(of: .pending) == nil)
        #expect(try await engine.rotate(id).succeeded)
    }

    /// A clone left without its grants (a crash between CREATE ROLE and GRANT in older versions, or
    /// someone's hand) ends the rotation with exactly the base user's memberships.
    @Test func aCloneWithoutGrantsEndsWithTheBaseUsersMemberships() async throws {
        let engine = try StoreKind.embedded.engine()
        let (admin, readers, writers, stray, user) = (PG.unique("rotor_admin"), PG.unique("readers"), PG.unique("writers"), PG.unique("stray"), PG.unique("app"))
        try await PG.admin("CREATE ROLE \(admin) WITH LOGIN CREATEROLE PASSWORD 'admin-password-0'")
        for role in [readers, writers, stray] { try await PG.admin("CREATE ROLE \(role) NOLOGIN") }
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0' IN ROLE \(readers), \(writers)")
        try await PG.admin("CREATE ROLE \(user)_clone WITH LOGIN PASSWORD 'someone-elses-0' IN ROLE \(stray)")
        let masterID = StoreKind.embedded.id("orders/db-credentials/master")
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: admin, password: "admin-password-0")))
        let id = SecretID(unchecked: "/\(masterID.environment)/orders/db-credentials/app")
        try await engine.createManagedSecret(id, rotator: "postgres-alternating-users", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: user, password: "initial-password-0", master: masterID)))
        let report = try await engine.rotate(id)
        #expect(report.succeeded, "\(report.error.map(String.init(describing:)) ?? "")")
        #expect(try await memberships(of: "\(user)_clone") == [user, readers, writers].sorted())
        #expect(try await PG.canLogIn(try await engine.store.getSecretValue(id, .current).value))
    }

    /// testSecret proves the pending user holds the base user's memberships, and names what is missing.
    @Test func testSecretNamesTheMembershipsThePendingUserLacks() async throws {
        let (readers, user) = (PG.unique("readers"), PG.unique("app"))
        try await PG.admin("CREATE ROLE \(readers) NOLOGIN")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0' IN ROLE \(readers)")
        try await PG.admin("CREATE ROLE \(user)_clone WITH LOGIN PASSWORD 'clone-password-0'")
        let id = SecretID(unchecked: "/test/orders/db-credentials/app")
        let rotator = try RotatorRegistry.withPostgres.make("postgres-alternating-users", options: RotatorOptions(PG.options.values.merging(["user": user]) { $1 }))
        let context = RotationContext(secret: id, token: VersionID("t"), store: InMemorySecretStore(), logger: .init(label: "t"), now: Date())
        let pending = SecretValue(string: try PG.json(user: "\(user)_clone", password: "clone-password-0", master: SecretID(unchecked: "/test/orders/db-credentials/master")))
        await #expect { _ = try await rotator.testSecret(TestSecretRequest(pending: pending), context: context) } throws: { error in
            "\(error)".contains("lacks the base user's role memberships") && "\(error)".contains(readers) && "\(error)".contains(user)
        }
    }

    /// An app secret edited to name another role (which exists, and whose password the editor knows):
    /// neither strategy changes that role's password, and the master never acts on it.
    @Test(arguments: ["postgres-single-user", "postgres-alternating-users"])
    func anEditedUsernameDoesNotRedirectTheRotation(kind: String) async throws {
        let engine = try StoreKind.embedded.engine()
        let (admin, user, victim) = (PG.unique("rotor_admin"), PG.unique("app"), PG.unique("victim"))
        try await PG.admin("CREATE ROLE \(admin) WITH LOGIN CREATEROLE PASSWORD 'admin-password-0'")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'")
        try await PG.admin("CREATE ROLE \(victim) WITH LOGIN PASSWORD 'victim-password-0'")
        let masterID = StoreKind.embedded.id("orders/db-credentials/master")
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: admin, password: "admin-password-0")))
        let id = SecretID(unchecked: "/\(masterID.environment)/orders/db-credentials/app")
        try await engine.createManagedSecret(id, rotator: RotatorKind(kind), options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: user, password: "initial-password-0", master: masterID)))
        #expect(try await engine.state.managedSecret(id)?.options["user"] == user, "rotor records the user when it starts managing the secret")
        try await engine.store.putSecretValue(PutSecretValueInput(
            id: id, token: VersionID(UUID().uuidString.lowercased()), value: SecretValue(string: try PG.json(user: victim, password: "victim-password-0", master: masterID)),
            stages: nil))
        let report = try await engine.rotate(id)
        #expect(!report.succeeded)
        #expect("\(report.error.map(String.init(describing:)) ?? "")\(try await engine.state.rotations(of: id, limit: 1).first?.steps.compactMap(\.error) ?? [])"
                    .contains("rotor manages it for '\(user)' only"))
        #expect(try await PG.canLogIn(user: victim, password: "victim-password-0"))
        #expect(try await memberships(of: "\(victim)_clone").isEmpty)
        #expect(try await !PG.canLogIn(user: "\(victim)_clone", password: "x"))
    }

    @Test func aMasterSecretFromAnotherEnvironmentIsRefused() async throws {
        let engine = try StoreKind.embedded.engine()
        let user = PG.unique("app")
        try await PG.admin("CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'")
        let pg = try PG.require()
        let masterID = StoreKind.embedded.id("orders/db-credentials/master")
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: pg.user, password: pg.password)))
        let id = StoreKind.embedded.id("orders/db-credentials/app")
        #expect(id.environment != masterID.environment)
        try await engine.createManagedSecret(id, rotator: "postgres-alternating-users", options: PG.options,
                                             initialValue: SecretValue(string: try PG.json(user: user, password: "initial-password-0", master: masterID)))
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.summary.contains("is in environment") == true, "\(report.error.map(String.init(describing:)) ?? "")")
        #expect(try await !PG.canLogIn(user: "\(user)_clone", password: "x"))
    }

    func memberships(of member: String) async throws -> [String] { try await PG.memberships(of: member) }

    func expectMember(_ member: String, of role: String) async throws {
        let pg = try PG.require()
        let secret = try PostgresSecret(SecretValue(string: try PG.json(user: pg.user, password: pg.password)), secret: try SecretID("/test/pg/db-credentials/admin"))
        let count = try await PG.connector.withConnection(secret, id: try SecretID("/test/pg/db-credentials/admin"), step: nil) { connection in
            try await connection.query("""
                SELECT 1 FROM pg_auth_members m JOIN pg_roles b ON m.roleid = b.oid JOIN pg_roles r ON m.member = r.oid
                WHERE r.rolname = \(member) AND b.rolname = \(role)
                """, logger: .init(label: "t")).collect().count
        }
        #expect(count == 1, "\(member) should be a member of \(role)")
    }
}

/// Cuts the database (the proxy) right before a step, so the step and everything after it fail to connect.
struct CuttingRotator: Rotator {
    let kind: RotatorKind = "cutting"
    let hasTarget = true
    let base: any Rotator
    let proxy: CuttableProxy
    let step: RotationStep

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        try await base.createSecret(request, context: context)
    }
    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
        if step == .setSecret { try await proxy.cutOnce() }
        return try await base.setSecret(request, context: context)
    }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        if step == .testSecret { try await proxy.cutOnce() }
        return try await base.testSecret(request, context: context)
    }
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        try await base.rollback(request, context: context)
    }
}

extension SecretID {
    init(unchecked raw: String) { self = try! SecretID(raw) }
}
