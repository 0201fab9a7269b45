import Foundation
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
        try await engine.createManagedSecret(id, rotator: "postgres-single-user", options: RotatorOptions(),
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
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: RotatorOptions(),
                                             initialValue: SecretValue(string: try PG.json(user: admin, password: "admin-password-0")))
        let id = SecretID(unchecked: "/\(masterID.environment)/orders/db-credentials/app")
        try await engine.createManagedSecret(id, rotator: "postgres-alternating-users", options: RotatorOptions(),
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
        try await engine.createManagedSecret(masterID, rotator: "postgres-single-user", options: RotatorOptions(),
                                             initialValue: SecretValue(string: try PG.json(user: pg.user, password: "not-the-password")))
        let id = SecretID(unchecked: "/\(masterID.environment)/orders/db-credentials/app")
        let initial = SecretValue(string: try PG.json(user: user, password: "initial-password-0", master: masterID))
        try await engine.createManagedSecret(id, rotator: "postgres-alternating-users", options: RotatorOptions(), initialValue: initial)
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
        let proxy = try CuttableProxy(target: pg.port)
        var rotators = RotatorRegistry.withPostgres
        rotators.register(RotatorDescriptor(
            kind: "cutting", summary: "test", options: [:],
            build: { _ throws(RotorError) in CuttingRotator(base: try RotatorRegistry.withPostgres.make("postgres-single-user", options: RotatorOptions()), proxy: proxy, step: step) },
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
        try proxy.start()
        if failed.outcome == .rollingBack {
            // The rollback needed the database; now that it is back, the next run completes it.
            #expect(try await engine.rotate(id).outcome == .rolledBack)
        }
        #expect(try await PG.canLogIn(initial), "the AWSCURRENT credentials work after the rollback")
        #expect(try await engine.state.openRotation(for: id) == nil)
        #expect(try await engine.store.describeSecret(id).holder(of: .pending) == nil)
        #expect(try await engine.rotate(id).succeeded)
    }

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
        if step == .setSecret { proxy.cutOnce() }
        return try await base.setSecret(request, context: context)
    }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        if step == .testSecret { proxy.cutOnce() }
        return try await base.testSecret(request, context: context)
    }
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws {
        try await base.rollback(request, context: context)
    }
}

extension SecretID {
    init(unchecked raw: String) { self = try! SecretID(raw) }
}
