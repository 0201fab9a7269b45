import Synchronization

/// Blocks its waiters, cancellation or not, until opened (a stuck system call, a paused process, an
/// upstream call held so that others pile up behind it).
public final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    public func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    public func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }
}

/// Runs the tests that start an AWS emulator of their own or a browser one at a time: each is heavy
/// on a 2-core machine, and together they slowed other tests' processes past their deadlines.
public enum HeavyTests {
    private static let state = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public static func oneAtATime<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { continuation in
            let runNow = state.withLock { state -> Bool in
                guard state.busy else { state.busy = true; return true }
                state.waiters.append(continuation)
                return false
            }
            if runNow { continuation.resume() }
        }
        defer {
            let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard !state.waiters.isEmpty else { state.busy = false; return nil }
                return state.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
