import Synchronization

/// Watches the steps an engine runs: renews each one's lock while it runs and cancels one that runs
/// past its time limit. One watcher task serves every running step (it starts with the first and
/// ends when none is left), so a step costs one task of its own, not three and a timer.
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
        var renewal: Task<(any Error)?, Never>?

        var due: ContinuousClock.Instant { timedOut ? nextRenewal : min(nextRenewal, deadline) }
    }

    private struct State {
        var steps: [Int: Watched] = [:]
        var nextID = 0
        /// The watcher task and when it next wakes; `nil` when none runs.
        var watcher: (task: Task<Void, Never>, wakes: ContinuousClock.Instant, generation: Int)?
        var generations = 0
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
        let id = add(Watched(work: { work.cancel() }, renew: renew, deadline: now + timeout, interval: interval, nextRenewal: now + min(interval, timeout)))
        let result = await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        let watched = state.withLock { $0.steps.removeValue(forKey: id) }
        // A renewal that fails now, after the work ended, is left to the next fenced journal write.
        _ = await watched?.renewal?.value
        if let failure = watched?.failure { throw failure }
        if case .failure(let error) = result, error is CancellationError, watched?.timedOut == true { throw TimedOut() }
        return try result.get()
    }

    /// The step ran past its time limit and ended cancelled.
    struct TimedOut: Error {}

    private func add(_ watched: Watched) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.steps[id] = watched
            if let watcher = state.watcher, watcher.wakes <= watched.due { return id }
            state.watcher?.task.cancel()
            state.generations += 1
            let generation = state.generations
            state.watcher = (Task.detached { [self] in await watch(generation) }, watched.due, generation)
            return id
        }
    }

    /// The watcher: sleeps until the earliest due step, renews or times out what is due, and ends
    /// when no step is left (a newer watcher replaces it when a step is due sooner than it wakes).
    private func watch(_ generation: Int) async {
        while true {
            guard let wake = state.withLock({ state in
                guard state.watcher?.generation == generation else { return nil as ContinuousClock.Instant? }
                guard let due = state.steps.values.filter({ $0.failure == nil }).map(\.due).min() else {
                    state.watcher = nil
                    return nil as ContinuousClock.Instant?
                }
                state.watcher?.wakes = due
                return due
            }) else { return }
            do { try await Task.sleep(until: wake, clock: .continuous) } catch { return }
            await tend(ContinuousClock.now)
        }
    }

    /// Times out and renews the steps due at `now`.
    private func tend(_ now: ContinuousClock.Instant) async {
        let due = state.withLock { state in
            state.steps.filter { $0.value.due <= now && $0.value.failure == nil }
        }
        for (id, watched) in due {
            if !watched.timedOut, watched.deadline <= now {
                state.withLock { $0.steps[id]?.timedOut = true }
                watched.work()
                if watched.nextRenewal > now { continue }
            }
            // A task of its own: a watcher replaced while renewing is cancelled, the renewal is not.
            let renewal: Task<(any Error)?, Never>? = state.withLock { state in
                guard let step = state.steps[id], step.renewal == nil else { return nil }
                let renewal = Task { () -> (any Error)? in
                    do { try await watched.renew() } catch { return error }
                    return nil
                }
                state.steps[id]?.renewal = renewal
                return renewal
            }
            guard let renewal else { continue }
            let failure = await renewal.value
            state.withLock { state in
                state.steps[id]?.renewal = nil
                if let failure { state.steps[id]?.failure = failure } else { state.steps[id]?.nextRenewal = ContinuousClock.now + watched.interval }
            }
            if failure != nil { watched.work() }
        }
    }
}
