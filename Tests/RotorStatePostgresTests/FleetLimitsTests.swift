import Foundation
import Testing
import RotorCore
import RotorTestSupport
import Synchronization
@testable import RotorStatePostgres

/// What the daemons sharing a state share besides the work: the caps on rotations at once, the write
/// quota, requested rotations and the wake-ups that announce work.
@Suite struct FleetLimitsTests {
    static func register(_ id: SecretID, kind: RotatorKind, dueAt: Date, in store: PostgresStateStore) async throws {
        try await store.register(ManagedSecret(id: id, rotator: kind, options: RotatorOptions(), createdAt: Date()),
                                 audit: AuditEvent(at: Date(), actor: "test", secret: id, operation: "secret.manage", outcome: "succeeded"))
        try await store.saveScheduleEntry(ScheduleEntry(secret: id, policy: "p", fingerprint: "f", nextDueAt: dueAt))
    }

    /// Caps count every lock held in the state, whoever holds it: two daemons never run more than the
    /// total, nor more of one kind than its cap, and a released lock frees its slot.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func claimsStayWithinTheFleetsCapsWhoeverHoldsTheLocks() async throws {
        let now = Date()
        let (a, b, ids) = try await ConcurrentHoldersTests.dueFleet(12, dueAt: now.addingTimeInterval(-10))
        defer { Task { await a.close(); await b.close() } }
        let others = try (0..<4).map { try SecretID("/prod/fleet/db/other\($0)") }
        for id in others { try await Self.register(id, kind: "postgres-password", dueAt: now.addingTimeInterval(-5), in: a) }
        let caps = FleetCaps(total: 6, perRotator: 4)
        // A `rotor rotate` somewhere holds one lock of the first kind.
        _ = try #require(try await b.acquireSecretLock(ids[11], owner: "cli", ttl: 60, now: now))
        async let first = a.claimDue(at: now, limit: 10, in: .all, owner: "A", ttl: 30, caps: caps)
        async let second = b.claimDue(at: now, limit: 10, in: .all, owner: "B", ttl: 30, caps: caps)
        let (byA, byB) = try await (first.map(\.secret), second.map(\.secret))
        let claimed = byA + byB
        #expect(claimed.count == 5, "6 in all, one held by the CLI: \(byA) \(byB)")
        #expect(claimed.filter { ids.contains($0) }.count == 3, "4 of a kind, one held by the CLI")
        #expect(Set(claimed).count == claimed.count)
        let held = try await a.claims(in: .all, now: now)
        #expect(held.count == 6 && Set(held.map(\.owner)) == Set(["cli"] + (byA.isEmpty ? [] : ["A"]) + (byB.isEmpty ? [] : ["B"])))
        #expect(try await a.claimDue(at: now, limit: 10, in: .all, owner: "C", ttl: 30, caps: caps).isEmpty, "every slot is taken")
        try await b.releaseSecretLock(ids[11], owner: "cli")
        let freed = try await a.claimDue(at: now, limit: 10, in: .all, owner: "C", ttl: 30, caps: caps)
        #expect(freed.count == 1 && ids.contains(freed[0].secret), "the released slot, of the kind that was held: \(freed)")
    }

    /// A requested rotation makes a secret due now (not a month from now, and a re-plan meanwhile does
    /// not postpone it), is audited with it, and is taken by the claim that takes the secret: once
    /// that claim's lock is released no other daemon claims the same request. A claimer that lets the
    /// secret go puts the request back.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func aRequestedRotationIsClaimedOnceAndPutBackWhenNotAnswered() async throws {
        let now = Date()
        let (a, b, ids) = try await ConcurrentHoldersTests.dueFleet(2, dueAt: now.addingTimeInterval(30 * 86_400))
        defer { Task { await a.close(); await b.close() } }
        #expect(try await b.claimDue(at: now, limit: 10, in: .all, owner: "B", ttl: 30, caps: .none).isEmpty)
        let audit = AuditEvent(at: now, actor: "cli:test", secret: ids[0], operation: "rotation.request", outcome: "queued")
        try await a.requestRotation(ids[0], at: now, audit: audit)
        #expect(try await a.auditEvents(of: ids[0], limit: 10).contains { $0.operation == "rotation.request" })
        try await a.saveScheduleEntry(ScheduleEntry(secret: ids[0], policy: "p", fingerprint: "f", nextDueAt: now.addingTimeInterval(60 * 86_400)))
        let claimed = try await b.claimDue(at: now.addingTimeInterval(0.5), limit: 10, in: .all, owner: "B", ttl: 30, caps: .none)
        #expect(claimed.map(\.secret) == [ids[0]], "a re-plan did not postpone the request")
        let requestedAt = try #require(claimed.first?.requestedAt)
        #expect(abs(requestedAt.timeIntervalSince(now)) < 0.001)
        #expect(try await a.scheduleEntry(ids[0])?.requestedAt == nil, "the claim took the request")
        try await b.releaseSecretLock(ids[0], owner: "B")
        #expect(try await a.claimDue(at: now.addingTimeInterval(1), limit: 10, in: .all, owner: "A", ttl: 30, caps: .none).isEmpty,
                "released, the secret is not claimed for the same request again")
        try await b.restoreRequest(ids[0], requestedAt: requestedAt)
        #expect(try await a.scheduleEntry(ids[0])?.requestedAt == requestedAt)
        let again = try await a.claimDue(at: now.addingTimeInterval(31), limit: 10, in: .all, owner: "A", ttl: 30, caps: .none)
        #expect(again.map(\.secret) == [ids[0]] && again.first?.requestedAt == requestedAt, "put back, it is claimed with its request once the claim lapsed")
        let unscheduled = try SecretID("/prod/fleet/api-key/nobody-schedules-me")
        await #expect(throws: RotorError.self) { try await a.requestRotation(unscheduled, at: now, audit: audit) }
    }

    /// One bucket for every process of the state: what one took, the other cannot.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func theWriteQuotaIsOneBucketForEveryProcess() async throws {
        let (a, b) = try await ConcurrentHoldersTests.twoHosts()
        defer { Task { await a.close(); await b.close() } }
        let (onA, onB) = (a.writeQuota("secretsmanager/test", perSecond: 0.2, burst: 3), b.writeQuota("secretsmanager/test", perSecond: 0.2, burst: 3))
        #expect(try await a.takeWriteToken(onA) == nil)
        #expect(try await b.takeWriteToken(onB) == nil)
        #expect(try await a.takeWriteToken(onA) == nil)
        let wait = try #require(try await b.takeWriteToken(onB), "three taken of a burst of three")
        #expect(wait > 3 && wait <= 5, "about 5 s until the next token at 0.2 a second: \(wait)")
        let other = b.writeQuota("secretsmanager/other-region", perSecond: 0.2, burst: 3)
        #expect(try await b.takeWriteToken(other) == nil, "another bucket is another quota")
    }

    /// A listener hears every transaction that makes work claimable on its schema: a request, a
    /// released lock, a deadline saved as due now; and nothing from another schema.
    @Test(.enabled(if: PostgresTestServer.enabled))
    func listenersAreWokenByRequestsReleasesAndDueDeadlines() async throws {
        let now = Date()
        let (a, b, ids) = try await ConcurrentHoldersTests.dueFleet(2, dueAt: now.addingTimeInterval(86_400))
        let stranger = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings(schema: PostgresTestServer.uniqueSchema()))
        defer { Task { await a.close(); await b.close(); await stranger.close() } }
        let heard = Counter()
        let listening = Task { for await _ in b.dueWorkAnnouncements() { heard.withLock { $0 += 1 } } }
        defer { listening.cancel() }
        // Waits (a generous bound: a missing wake-up fails, a slow one does not) until `count` were heard.
        func heardAtLeast(_ count: Int, within seconds: Double = 20) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while heard.withLock({ $0 }) < count, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            return heard.withLock { $0 } >= count
        }
        #expect(try await heardAtLeast(1), "one at connecting")
        try await Self.register(try SecretID("/prod/other/api-key/x"), kind: "random-password", dueAt: now.addingTimeInterval(-1), in: stranger)
        #expect(!(try await heardAtLeast(2, within: 1)), "another schema's work is not this one's")
        try await a.requestRotation(ids[0], at: now, audit: AuditEvent(at: now, actor: "test", secret: ids[0], operation: "rotation.request", outcome: "queued"))
        #expect(try await heardAtLeast(2))
        _ = try #require(try await a.acquireSecretLock(ids[1], owner: "A", ttl: 60, now: now))
        try await a.releaseSecretLock(ids[1], owner: "A")
        #expect(try await heardAtLeast(3))
        try await a.saveScheduleEntry(ScheduleEntry(secret: ids[1], policy: "p", fingerprint: "f", nextDueAt: now.addingTimeInterval(-1)))
        #expect(try await heardAtLeast(4))
        try await a.saveScheduleEntry(ScheduleEntry(secret: ids[1], policy: "p", fingerprint: "f", nextDueAt: now.addingTimeInterval(3600)))
        #expect(!(try await heardAtLeast(5, within: 1)), "a deadline in the future wakes nobody")
    }
}

/// A count a background task adds to.
final class Counter: Sendable {
    private let value = Mutex(0)
    func withLock<T>(_ body: (inout Int) -> T) -> T { value.withLock { body(&$0) } }
}

/// A statement on a connection the server has ended (a restart, a terminated backend) fails; it is
/// never left waiting for an answer that cannot come (postgres-nio drops such a query).
@Suite struct ClosedConnectionTests {
    @Test(.enabled(if: PostgresTestServer.enabled))
    func aStatementOnAConnectionTheServerEndedFailsInsteadOfWaitingForever() async throws {
        let store = try await PostgresStateStoreTests.open(try PostgresStateStoreTests.settings(schema: PostgresTestServer.uniqueSchema()))
        defer { Task { await store.close() } }
        let connection = try await store.pool.dedicatedConnection()
        let pid = try #require(try await AnsweredQuery.run("SELECT pg_backend_pid() AS pid", on: connection, logger: store.logger).first?
            .makeRandomAccess()["pid"].decode(Int32.self))
        try await store.write("test") { session in try await session.run("SELECT pg_terminate_backend(\(pid))") }
        // Whether or not the client has noticed yet, the statement ends (a hang fails after 30 s).
        let outcome = Task { () -> String in
            do { _ = try await AnsweredQuery.run("SELECT 1", on: connection, logger: store.logger); return "answered" } catch { return "failed" }
        }
        let deadline = Date().addingTimeInterval(30)
        let ended = Counter()
        Task { _ = await outcome.value; ended.withLock { $0 = 1 } }
        while ended.withLock({ $0 }) == 0, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(ended.withLock { $0 } == 1, "the statement is still waiting")
        if ended.withLock({ $0 }) == 1 { #expect(await outcome.value == "failed") }
        try? await connection.close()
    }
}
