import Synchronization
import RotorCore

/// Whether the state answers a cheap read within a second (`/healthz`): a daemon whose state is a
/// database on another host says so when it cannot reach it, instead of looking healthy.
enum StateProbe {
    static let limit: Duration = .seconds(1)

    /// `nil` when the state answered in time, else what went wrong. A read still running at the
    /// limit is left to finish on its own; the answer does not wait for it.
    static func problem(_ state: any SchedulingStore) async -> String? {
        await withCheckedContinuation { continuation in
            let answer = FirstAnswer(continuation)
            let timer = Task {
                try await Task.sleep(for: limit)
                answer.give("the state did not answer within \(limit)")
            }
            Task {
                do {
                    _ = try await state.configSequence()
                    answer.give(nil)
                } catch {
                    answer.give("the state does not answer: \(RotorError.wrapping(error).summary.prefix(200))")
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
