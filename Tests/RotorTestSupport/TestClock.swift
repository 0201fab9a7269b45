import Foundation
import RotorCore
import Synchronization

/// The one clock of rotor's tests: `now` moves only when the test says so.
///
/// Sleepers either move time forward at once (``Sleeping/advancesTime``, the default: a backoff in a
/// test costs nothing and is recorded in ``sleeps``) or wait until ``advance(by:)`` or ``set(_:)``
/// reaches their deadline (``Sleeping/waitsForAdvance``), so a loop such as the scheduler's `run()`
/// is driven step by step by the test itself.
public final class TestClock: RotorClock {
    public enum Sleeping: Sendable { case advancesTime, waitsForAdvance }

    private struct Sleeper {
        let id: Int
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var sleeps: [Duration] = []
        var sleepers: [Sleeper] = []
        var nextID = 0
    }

    private let state: Mutex<State>
    public let sleeping: Sleeping

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000), sleeping: Sleeping = .advancesTime) {
        state = Mutex(State(now: start))
        self.sleeping = sleeping
    }

    public func now() -> Date { state.withLock { $0.now } }

    /// Every duration slept so far, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }

    /// How many sleepers wait for time to be advanced.
    public var waitingSleepers: Int { state.withLock { $0.sleepers.count } }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        guard sleeping == .waitsForAdvance, duration > .zero else {
            state.withLock { $0.now += duration.seconds; $0.sleeps.append(duration) }
            return
        }
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.sleeps.append(duration)
                    state.sleepers.append(Sleeper(id: id, deadline: state.now + duration.seconds, continuation: continuation))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline it reaches.
    public func advance(by seconds: TimeInterval) {
        wake(state.withLock { state in
            state.now += seconds
            return Self.takeDue(&state)
        })
    }

    /// Moves time to `date` (never backwards) and wakes the sleepers that are due.
    public func set(_ date: Date) {
        wake(state.withLock { state in
            state.now = max(state.now, date)
            return Self.takeDue(&state)
        })
    }

    /// Waits (in real time, at most `timeout`) until `count` sleepers wait for time to move.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while waitingSleepers < count {
            guard ContinuousClock.now < deadline else {
                throw TestClockTimeout(expected: count, waiting: waitingSleepers)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private static func takeDue(_ state: inout State) -> [Sleeper] {
        let now = state.now
        let due = state.sleepers.filter { $0.deadline <= now }
        state.sleepers.removeAll { $0.deadline <= now }
        return due
    }

    private func wake(_ sleepers: [Sleeper]) {
        for sleeper in sleepers { sleeper.continuation.resume() }
    }
}

/// ``TestClock/waitForSleepers(_:timeout:)`` gave up.
public struct TestClockTimeout: Error, CustomStringConvertible {
    public let expected: Int
    public let waiting: Int
    public var description: String { "expected \(expected) sleeper(s) on the test clock, \(waiting) waiting" }
}
