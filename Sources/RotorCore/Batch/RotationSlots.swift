import Synchronization

/// The rotations a process may run at once, in total and per rotator kind, shared by everything
/// that starts rotations in it (the daemon's schedule and its batches). Waiters are served in order.
public final class RotationSlots: Sendable {
    public let maxConcurrent: Int
    public let maxConcurrentPerRotator: Int

    private struct State {
        var total = 0
        var byKind: [RotatorKind: Int] = [:]
        var waiters: [(kind: RotatorKind, resume: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    public init(maxConcurrent: Int, maxConcurrentPerRotator: Int) {
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxConcurrentPerRotator = max(1, maxConcurrentPerRotator)
    }

    /// Waits for a slot for a rotation of `kind`.
    public func acquire(_ kind: RotatorKind) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = state.withLock { state in
                guard state.waiters.isEmpty, fits(kind, state) else {
                    state.waiters.append((kind, continuation))
                    return false
                }
                take(kind, &state)
                return true
            }
            if granted { continuation.resume() }
        }
    }

    /// Gives a slot back and starts the waiters that now fit.
    public func release(_ kind: RotatorKind) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.total -= 1
            state.byKind[kind, default: 1] -= 1
            var ready: [CheckedContinuation<Void, Never>] = []
            var index = 0
            while index < state.waiters.count, state.total < maxConcurrent {
                let waiter = state.waiters[index]
                if fits(waiter.kind, state) {
                    take(waiter.kind, &state)
                    ready.append(waiter.resume)
                    state.waiters.remove(at: index)
                } else {
                    index += 1
                }
            }
            return ready
        }
        ready.forEach { $0.resume() }
    }

    /// Runs `body` holding a slot for `kind`.
    public func withSlot<T: Sendable>(_ kind: RotatorKind, _ body: () async -> T) async -> T {
        await acquire(kind)
        let result = await body()
        release(kind)
        return result
    }

    /// Rotations running now.
    public var running: Int { state.withLock { $0.total } }

    private func fits(_ kind: RotatorKind, _ state: State) -> Bool {
        state.total < maxConcurrent && state.byKind[kind, default: 0] < maxConcurrentPerRotator
    }

    private func take(_ kind: RotatorKind, _ state: inout State) {
        state.total += 1
        state.byKind[kind, default: 0] += 1
    }
}
