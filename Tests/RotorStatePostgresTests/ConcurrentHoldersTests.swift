import Foundation
import Testing
import RotorCore
import RotorTestSupport
@testable import RotorStatePostgres

/// Two hosts on one schema: each store has connections of its own, as two daemons would.
@Suite struct ConcurrentHoldersTests {
    static let id = try! SecretID("/prod/payments/api-key/contended")

    static func twoHosts() async throws -> (PostgresStateStore, PostgresStateStore) {
        let schema = PostgresTestServer.uniqueSchema()
        let a = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings(schema: schema))
        let b = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings(schema: schema))
        try await a.register(ManagedSecret(id: id, rotator: "random-password", options: RotatorOptions(), createdAt: Date()),
                             audit: AuditEvent(at: Date(), actor: "test", secret: id, operation: "secret.manage", outcome: "succeeded"))
        return (a, b)
    }

    /// Eight takers at once: exactly one gets the lock, and its fence is new.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func oneOfManySimultaneousTakersGetsTheLock() async throws {
        let (a, b) = try await Self.twoHosts()
        defer { Task { await a.close(); await b.close() } }
        let now = Date()
        let locks = try await withThrowingTaskGroup(of: SecretLock?.self) { group in
            for taker in 0..<8 { group.addTask { try await (taker.isMultiple(of: 2) ? a : b).acquireSecretLock(Self.id, owner: "host-\(taker)", ttl: 60, now: now) } }
            return try await group.reduce(into: [SecretLock]()) { if let lock = $1 { $0.append(lock) } }
        }
        #expect(locks.count == 1)
        #expect(try await a.secretLockHolder(Self.id, now: now) == locks.first?.owner)
    }

    /// B asks for the lock while A's last journal write (its health and the release) is in flight:
    /// B waits for it and then reads the secret as A left it, never as it was before.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func theNextHolderReadsWhatTheLastOneWroteInItsFinalTransaction() async throws {
        let (a, b) = try await Self.twoHosts()
        defer { Task { await a.close(); await b.close() } }
        let now = Date()
        _ = try #require(try await a.acquireSecretLock(Self.id, owner: "A", ttl: 60, now: now))
        let inside = Gate(), release = Gate()
        let finishing = Task {
            try await a.write("test") { session in
                try await session.run("UPDATE managed_secret SET failed_runs = 2, status = 'failed' WHERE id = \(Self.id.rawValue)")
                _ = try await PostgresStateStore.release(Self.id, owner: "A", session)
                inside.open()
                await release.wait()
            }
        }
        await inside.wait()
        let reading = Task { try await b.lockAndRead(Self.id, owner: "B", ttl: 60, now: now) }
        // Until B has read the old row and waits on A's row lock (at most 5 s).
        for _ in 0..<50 {
            let waiting = try await b.read("test") { session in
                try await session.row("""
                    SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO secret_lock%'
                    """)!.value("n", as: Int64.self)
            }
            if waiting > 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        release.open()
        try await finishing.value
        let locked = try await reading.value
        #expect(locked.lock?.owner == "B")
        #expect(locked.managed?.failedRuns == 2 && locked.managed?.status == .failed, "B read the row from before A's last write")
    }

    /// A second open rotation of one secret is refused with the same error as on SQLite, and nothing of it is written.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func aSecondOpenRotationIsRefused() async throws {
        let (a, b) = try await Self.twoHosts()
        defer { Task { await a.close(); await b.close() } }
        let audit = AuditEvent(at: Date(), actor: "test", secret: Self.id, operation: "rotation.start", outcome: "started")
        try await a.beginRotation(RotationRecord(token: "11111111-0000-4000-8000-000000000001", secret: Self.id, trigger: "test", startedAt: Date()), audit: audit)
        await #expect { try await b.beginRotation(RotationRecord(token: "22222222-0000-4000-8000-000000000002", secret: Self.id, trigger: "test", startedAt: Date()), audit: audit) } throws: { error in
            (error as? RotorError)?.code == .invalidRequest && "\(error)".contains("already open")
        }
        #expect(try await b.rotations(of: Self.id, limit: 5).map(\.token) == ["11111111-0000-4000-8000-000000000001"])
        #expect(try await b.auditEvents(of: Self.id, limit: 10).filter { $0.operation == "rotation.start" }.count == 1)
    }

    /// PostgreSQL refuses U+0000 in text; an error quoting one is stored with a replacement character.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func anErrorWithANulCharacterIsStillJournaled() async throws {
        let (a, b) = try await Self.twoHosts()
        defer { Task { await a.close(); await b.close() } }
        let token: VersionID = "33333333-0000-4000-8000-000000000003"
        try await a.beginRotation(RotationRecord(token: token, secret: Self.id, trigger: "test", startedAt: Date()),
                                  audit: AuditEvent(at: Date(), actor: "test", secret: Self.id, operation: "rotation.start", outcome: "started"))
        try await a.markRollingBack(token: token, error: "driver said: bad\u{0}byte", at: Date())
        #expect(try await b.openRotation(for: Self.id)?.error == "driver said: bad\u{FFFD}byte")
    }

    /// Due secrets in one schema, and two stores (two hosts) on it.
    static func dueFleet(_ count: Int, dueAt: Date) async throws -> (PostgresStateStore, PostgresStateStore, [SecretID]) {
        let (a, b) = try await twoHosts()
        var ids: [SecretID] = []
        for index in 0..<count {
            let id = try SecretID("/prod/fleet/api-key/k\(index)")
            try await a.register(ManagedSecret(id: id, rotator: "random-password", options: RotatorOptions(), createdAt: Date()),
                                 audit: AuditEvent(at: Date(), actor: "test", secret: id, operation: "secret.manage", outcome: "succeeded"))
            try await a.saveScheduleEntry(ScheduleEntry(secret: id, policy: "p", fingerprint: "f", nextDueAt: dueAt))
            ids.append(id)
        }
        return (a, b, ids)
    }

    /// Two daemons claiming at the same instant get disjoint secrets, each claim is the secret's lock,
    /// and a claimed secret is not due again until its claim would lapse.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func simultaneousClaimsAreDisjointAndHoldTheLocks() async throws {
        let now = Date()
        let (a, b, ids) = try await Self.dueFleet(20, dueAt: now.addingTimeInterval(-10))
        defer { Task { await a.close(); await b.close() } }
        async let first = a.claimDue(at: now, limit: 8, in: .all, owner: "A", ttl: 30, caps: .none)
        async let second = b.claimDue(at: now, limit: 8, in: .all, owner: "B", ttl: 30, caps: .none)
        let (byA, byB) = try await (Set(first.map(\.secret)), Set(second.map(\.secret)))
        #expect(byA.count == 8 && byB.count == 8 && byA.isDisjoint(with: byB), "\(byA) \(byB)")
        for id in byA { #expect(try await b.secretLockHolder(id, now: now) == "A") }
        for id in byB { #expect(try await a.secretLockHolder(id, now: now) == "B") }
        #expect(try await a.dueRotations(at: now, limit: 50, in: .all).count == 4, "claimed entries are not due until the claim lapses")
        let rest = try await b.claimDue(at: now, limit: 50, in: .all, owner: "B", ttl: 30, caps: .none)
        #expect(Set(rest.map(\.secret)) == Set(ids).subtracting(byA).subtracting(byB), "the 4 left, nothing claimed twice")
    }

    /// Another holder's live lock is skipped; once it lapses the claim takes it with a new fence. A
    /// secret whose rotation was left open is claimed even when not due.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func aLapsedClaimIsTakenOverWithANewFenceAndAnOpenRotationIsClaimedWhenNotDue() async throws {
        let now = Date()
        let (a, b, ids) = try await Self.dueFleet(2, dueAt: now.addingTimeInterval(-10))
        defer { Task { await a.close(); await b.close() } }
        let held = try #require(try await a.acquireSecretLock(ids[0], owner: "A", ttl: 5, now: now))
        #expect(try await b.claimDue(at: now, limit: 10, in: .all, owner: "B", ttl: 30, caps: .none).map(\.secret) == [ids[1]])
        let later = now.addingTimeInterval(6)
        #expect(try await b.claimDue(at: later, limit: 10, in: .all, owner: "B", ttl: 30, caps: .none).map(\.secret).contains(ids[0]))
        let taken = try #require(try await b.acquireSecretLock(ids[0], owner: "B", ttl: 30, now: later))
        #expect(taken.fence > held.fence)

        try await b.saveScheduleEntry(ScheduleEntry(secret: ids[1], policy: "p", fingerprint: "f", nextDueAt: now.addingTimeInterval(86_400)))
        try await b.releaseSecretLock(ids[1], owner: "B")
        try await a.beginRotation(RotationRecord(token: "44444444-0000-4000-8000-000000000004", secret: ids[1], trigger: "test", startedAt: now),
                                  audit: AuditEvent(at: now, actor: "test", secret: ids[1], operation: "rotation.start", outcome: "started"))
        #expect(try await a.claimDue(at: later, limit: 10, in: .all, owner: "A", ttl: 30, caps: .none).map(\.secret) == [ids[1]])
    }
}
