import Foundation
import Synchronization
import RotorCore

/// Whether the state answers a cheap read within a second (`/healthz`): a daemon whose state is a
/// database on another host says so when it cannot reach it, instead of looking healthy. At most
/// one read is in flight and an answer serves for a second, so a flood of health checks costs the
/// state (and the connections rotations need) nothing more. The answer names no host or user:
/// `/healthz` needs no token; the daemon's log has the details.
final class StateProbe: Sendable {
    static let limit: Duration = .seconds(1)

    private struct Memory {
        var answer: String?
        var answeredAt: Date?
        var inFlight = false
    }

    private let state: any SchedulingStore
    private let memory = Mutex(Memory())

    init(_ state: any SchedulingStore) { self.state = state }

    /// `nil` when the state answered the last check in time, else why not.
    func problem(now: Date = Date()) async -> String? {
        let (cached, start) = memory.withLock { memory -> (String??, Bool) in
            if let at = memory.answeredAt, now.timeIntervalSince(at) < 1 { return (memory.answer, false) }
            if memory.inFlight { return (memory.answeredAt == nil ? .some(nil) : memory.answer, false) }
            memory.inFlight = true
            return (nil, true)
        }
        if !start, let cached { return cached }
        let answer = await check()
        memory.withLock { memory in
            memory.answer = answer
            memory.answeredAt = Date()
            memory.inFlight = false
        }
        return answer
    }

    private func check() async -> String? {
        await withCheckedContinuation { continuation in
            let answer = FirstAnswer(continuation)
            let timer = Task {
                try await Task.sleep(for: Self.limit)
                answer.give("the state did not answer within \(Self.limit)")
            }
            Task { [state] in
                do {
                    _ = try await state.configSequence()
                    answer.give(nil)
                } catch {
                    answer.give("the state does not answer")
                }
                timer.cancel()
            }
        }
    }

    /// Resumes its continuation with the first answer given; later ones are dropped.
    private final class FirstAnswer: Sendable {
        private let continuation: Mutex<CheckedContinuation<String?, Never>?>

        init(_ continuation: CheckedContinuation<String?, Never>) { self.continuation = Mutex(continuation) }

        func give(_ problem: String?) { continuation.withLock { $0.take() }?.resume(returning: problem) }
    }
}
