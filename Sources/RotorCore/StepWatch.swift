import Synchronization

/// Watches the steps an engine runs: renews each one's lock while it runs and cancels one that runs
/// past its time limit. One watcher task serves every running step (it starts with the first and
/// ends when none is left), so a step costs one task of its own, not three and a timer. Renewals
/// run in tasks of their own: a slow one never delays another step's renewal or time limit.
final class StepWatch: Sendable {
    /// What the watcher does for one running step.
    struct Watched: Sendable {
        let work: @Sendable () -> Void
        let renew: @Sendable () async throws -> Void
        let deadline: ContinuousClock.Instant
        let interval: Duration
        var nextRenewal: ContinuousClock.Instant
        var timedOut = false
        var failure: (any Error)?
        /// A renewal in flight: the step waits for it before it returns, so none lands after its end.
        var renewal: Task<Void, Never>?

        /// When the watcher must next act for this step; `nil` when nothing is left to do until a
        /// renewal in flight ends (or ever, after a failed renewal).
        var due: ContinuousClock.Instant? {
            guard failure == nil else { return nil }
            let renewalDue = renewal == nil ? nextRenewal : nil
            guard !timedOut else { return renewalDue }
            return renewalDue.map { min($0, deadline) } ?? deadline
        }
    }

    private struct State {
        var steps: [Int: Watched] = [:]
        var nextID = 0
        /// The watcher task, when it next wakes, and its generation; `nil` when none runs.
        var watcher: (task: Task<Void, Never>, wakes: ContinuousClock.Instant, generation: Int)?
        var generations = 0

        /// Starts a watcher unless the running one wakes by `due` (replacing one that wakes later).
        mutating func watch(by due: ContinuousClock.Instant, _ owner: StepWatch) {
            if let watcher, watcher.wakes <= due { return }
            watcher?.task.cancel()
            generations += 1
            let generation = generations
            watcher = (Task.detached { await owner.watch(generation) }, due, generation)
        }
    }

    private let state = Mutex(State())

    /// Runs `body` in a task of its own while the watcher renews the lock with `renew` every
    /// `interval` and cancels the task after `timeout`. Returns the body's result, or throws the
    /// renewal's error (after the cancelled body has ended), or ``TimedOut`` if the body ended
    /// cancelled after its time limit.
    func run<T: Sendable>(
        timeout: Duration, interval: Duration, renew: @escaping @Sendable () async throws -> Void, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let work = Task { try await body() }
        let now = ContinuousClock.now
        let watched = Watched(work: { work.cancel() }, renew: renew, deadline: now + timeout, interval: interval, nextRenewal: now + min(interval, timeout))
        let id = state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.steps[id] = watched
            if let due = watched.due { state.watch(by: due, self) }
            return id
        }
        let result = await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        let ended = state.withLock { $0.steps.removeValue(forKey: id) }
        // A renewal that fails now, after the work ended, is left to the next fenced journal write.
        await ended?.renewal?.value
        if let failure = ended?.failure { throw failure }
        if case .failure(let error) = result, error is CancellationError, ended?.timedOut == true { throw TimedOut() }
        return try result.get()
    }

    /// The step ran past its time limit and ended cancelled.
    struct TimedOut: Error {}

    /// The watcher: sleeps until the earliest due step, times out or starts the renewal of what is
    /// due, and ends when nothing is due (a newer watcher replaces it when a step is due sooner
    /// than it wakes, and a renewal that ends schedules its step's next one).
    private func watch(_ generation: Int) async {
        while true {
            let wake = state.withLock { state -> ContinuousClock.Instant? in
                guard state.watcher?.generation == generation else { return nil }
                guard let due = state.steps.values.compactMap(\.due).min() else {
                    state.watcher = nil
                    return nil
                }
                state.watcher?.wakes = due
                return due
            }
            guard let wake else { return }
            do { try await Task.sleep(until: wake, clock: .continuous) } catch { return }
            tend(ContinuousClock.now)
        }
    }

    /// Times out the steps past their limit and starts the renewals due at `now`.
    private func tend(_ now: ContinuousClock.Instant) {
        let timedOut = state.withLock { state in
            var timedOut: [@Sendable () -> Void] = []
            for (id, step) in state.steps where step.failure == nil {
                if !step.timedOut, step.deadline <= now {
                    state.steps[id]?.timedOut = true
                    timedOut.append(step.work)
                }
                if step.renewal == nil, step.nextRenewal <= now {
                    state.steps[id]?.renewal = Task { await self.renew(id, step) }
                }
            }
            return timedOut
        }
        for cancel in timedOut { cancel() }
    }

    /// One renewal, in a task of its own (a watcher replaced meanwhile is cancelled; the renewal
    /// is not). Its end records the outcome and schedules the step's next renewal.
    private func renew(_ id: Int, _ step: Watched) async {
        var failure: (any Error)?
        do { try await step.renew() } catch { failure = error }
        state.withLock { state in
            guard state.steps[id] != nil else { return }
            state.steps[id]?.renewal = nil
            if let failure {
                state.steps[id]?.failure = failure
            } else {
                state.steps[id]?.nextRenewal = ContinuousClock.now + step.interval
            }
            if let due = state.steps[id]?.due { state.watch(by: due, self) }
        }
        if failure != nil { step.work() }
    }
}
