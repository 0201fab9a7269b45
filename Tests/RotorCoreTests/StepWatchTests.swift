import Synchronization
import Testing
@testable import RotorCore

/// The one watcher that renews running steps' locks and enforces their time limit.
@Suite struct StepWatchTests {
    final class Counter: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    /// Polls until `condition` holds; fails after `limit` (a hang, not a slow machine).
    static func waitFor(_ limit: Duration = .seconds(60), _ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func aRunningStepIsRenewedUntilItEnds() async throws {
        let watch = StepWatch()
        let renewals = Counter()
        let result = try await watch.run(timeout: .seconds(3600), interval: .milliseconds(20), renew: { renewals.add() }) {
            try await Self.waitFor { renewals.count >= 3 }
            return "done"
        }
        #expect(result == "done")
        let after = renewals.count
        try await Task.sleep(for: .milliseconds(200))
        #expect(renewals.count == after, "no renewal after the step ended")
    }

    @Test func aStepPastItsLimitIsCancelledAndSaysSo() async throws {
        let watch = StepWatch()
        await #expect(throws: StepWatch.TimedOut.self) {
            try await watch.run(timeout: .milliseconds(50), interval: .seconds(3600), renew: {}) {
                try await Task.sleep(for: .seconds(3600))
            }
        }
    }

    @Test func aStepThatIgnoresCancellationKeepsItsResult() async throws {
        let watch = StepWatch()
        let value = try await watch.run(timeout: .milliseconds(20), interval: .seconds(3600), renew: {}) {
            try? await Task.sleep(for: .milliseconds(300))
            return 7
        }
        #expect(value == 7)
    }

    @Test func aFailedRenewalCancelsTheStepAndIsThrownAfterItEnds() async throws {
        struct Lost: Error {}
        let watch = StepWatch()
        let ended = Counter()
        await #expect(throws: Lost.self) {
            try await watch.run(timeout: .seconds(3600), interval: .milliseconds(20), renew: { throw Lost() }) {
                defer { ended.add() }
                try await Task.sleep(for: .seconds(3600))
            }
        }
        #expect(ended.count == 1, "the cancelled work had ended before the error came back")
    }

    @Test func aStepDueSoonerThanTheWatcherWakesIsServedOnTime() async throws {
        let watch = StepWatch()
        let slowStarted = Counter()
        let slow = Task {
            try await watch.run(timeout: .seconds(3600), interval: .seconds(3600), renew: {}) {
                slowStarted.add()
                try await Task.sleep(for: .seconds(3600))
            }
        }
        try await Self.waitFor { slowStarted.count == 1 }
        let renewals = Counter()
        try await watch.run(timeout: .seconds(3600), interval: .milliseconds(20), renew: { renewals.add() }) {
            try await Self.waitFor { renewals.count >= 2 }
        }
        #expect(renewals.count >= 2)
        slow.cancel()
        await #expect(throws: CancellationError.self) { try await slow.value }
    }

    @Test func cancellingTheCallerCancelsTheStep() async throws {
        let watch = StepWatch()
        let caller = Task {
            try await watch.run(timeout: .seconds(3600), interval: .seconds(3600), renew: {}) {
                try await Task.sleep(for: .seconds(3600))
            }
        }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
    }

    @Test func aSlowRenewalDelaysNoOtherStepsTimeLimit() async throws {
        let watch = StepWatch()
        let release = Counter()
        let renewing = Counter()
        let stalled = Task {
            try await watch.run(timeout: .seconds(3600), interval: .milliseconds(10), renew: {
                renewing.add()
                while release.count == 0 { try? await Task.sleep(for: .milliseconds(5)) }
            }) {
                try await Self.waitFor { release.count > 0 }
            }
        }
        try await Self.waitFor { renewing.count == 1 }
        // The other step's limit comes while the first one's renewal hangs.
        await #expect(throws: StepWatch.TimedOut.self) {
            try await watch.run(timeout: .milliseconds(50), interval: .seconds(3600), renew: {}) {
                try await Task.sleep(for: .seconds(30))
            }
        }
        release.add()
        try await stalled.value
    }
}
