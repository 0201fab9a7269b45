import Foundation
import Testing
import RotorCore
import RotorStorage
import RotorTestSupport

/// `/metrics`' fleet-level figures come from counts the writes keep and from index look-ups; they
/// must agree with the rows at every moment (registration, rotations, failures, quarantine).
@Suite struct FleetSummaryTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func ids(_ environment: String, _ count: Int) throws -> [SecretID] {
        try (0..<count).map { try SecretID("/\(environment)/shop/api-key/key-\($0)") }
    }

    @Test func countsFollowEveryStatusChangeAndRespectTheScope() async throws {
        let state = try SQLiteStateStore(url: try TemporaryDirectory.make().appendingPathComponent("state.sqlite"), synchronous: .normal)
        let clock = TestClock(start)
        let engine = RotationEngine(store: InMemorySecretStore(clock: clock), state: state, rotators: .builtIn, clock: clock)
        let prod = try ids("prod", 3), staging = try ids("staging", 2)
        for id in prod + staging {
            _ = try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions([:]), initialValue: SecretValue(string: "v0"))
        }
        var summary = try await state.fleetSummary(in: .all, now: start)
        #expect(summary.secrets == [.active: 5, .rotating: 0, .failed: 0, .quarantined: 0])
        #expect(summary.oldestLastSuccess == nil)

        clock.advance(by: 60)
        #expect(try await engine.rotate(prod[1]).succeeded)
        clock.advance(by: 60)
        #expect(try await engine.rotate(staging[0]).succeeded)
        try await state.updateHealth(prod[2], SecretHealthChange(status: .quarantined, failedRuns: 3, lastError: "test"), audit: engine.audit(prod[2], "test", "quarantined"))
        try await state.saveScheduleEntry(ScheduleEntry(secret: prod[0], policy: "p", fingerprint: "f", nextDueAt: start.addingTimeInterval(30)))
        try await state.saveScheduleEntry(ScheduleEntry(secret: staging[1], policy: "p", fingerprint: "f", nextDueAt: start.addingTimeInterval(86_400)))

        summary = try await state.fleetSummary(in: .all, now: clock.now())
        #expect(summary.secrets == [.active: 4, .rotating: 0, .failed: 0, .quarantined: 1])
        #expect(summary.overdue == 1)
        #expect(summary.nextDeadline == start.addingTimeInterval(30))
        #expect(summary.oldestLastSuccess == start.addingTimeInterval(60))

        let staged = try await state.fleetSummary(in: .only(try Environment("staging")), now: clock.now())
        #expect(staged.secrets == [.active: 2, .rotating: 0, .failed: 0, .quarantined: 0])
        #expect(staged.overdue == 0 && staged.nextDeadline == start.addingTimeInterval(86_400))
        #expect(staged.oldestLastSuccess == start.addingTimeInterval(120))
    }

    @Test func pagesWalkTheFleetInIDOrderWithinTheScope() async throws {
        let state = try SQLiteStateStore(url: try TemporaryDirectory.make().appendingPathComponent("state.sqlite"), synchronous: .normal)
        let all = try ids("prod", 7) + ids("staging", 3)
        try await state.registerMany(all.map { ManagedSecret(id: $0, rotator: "random-password", options: RotatorOptions([:]), createdAt: start) })
        try await state.saveScheduleEntry(ScheduleEntry(secret: all[2], policy: "p", fingerprint: "f", nextDueAt: start))
        var seen: [SecretID] = [], after: SecretID?
        while true {
            let page = try await state.secretPage(in: .only(try Environment("prod")), after: after, limit: 3)
            guard let last = page.last else { break }
            #expect(page.count <= 3)
            #expect(page.allSatisfy { ($0.entry != nil) == ($0.secret.id == all[2]) })
            seen += page.map(\.secret.id)
            after = last.secret.id
        }
        #expect(seen == all.prefix(7).sorted { $0.rawValue < $1.rawValue })
    }
}
