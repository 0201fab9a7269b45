#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import class Foundation.NSCondition
import class Foundation.Thread
import Synchronization

/// A thread of its own that runs a rotation's jobs (a `TaskExecutor`). A job enqueued from the
/// thread itself (a step's child task, a continuation resumed there) runs on it next without
/// waking another thread, and a state or store call made on it runs its SQLite work in place
/// instead of handing it to a database queue and back (two thread hand-offs saved per call).
/// Blocking here stalls only this thread's rotation, never Swift's cooperative pool.
public final class RotationThread: TaskExecutor, @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var next = 0
    private var idle = false

    /// Starts the thread; `name` shows in debuggers and crash reports.
    public init(name: String = "rotor-rotation") {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        let wake = idle
        condition.unlock()
        if wake { condition.signal() }
    }

    private func run() {
        BlockingAllowed.markCurrentThread()
        let executor = asUnownedTaskExecutor()
        while true { takeJob().runSynchronously(on: executor) }
    }

    private func takeJob() -> UnownedJob {
        condition.lock()
        defer { condition.unlock() }
        while next == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            next = 0
            idle = true
            condition.wait()
            idle = false
        }
        next += 1
        return jobs[next - 1]
    }
}

/// The threads rotations run on: each running rotation leases one of its own, up to `limit`
/// threads; past that, rotations share the pool's threads in turn. Threads are kept for the next
/// rotation, never stopped.
public final class RotationThreads: Sendable {
    /// The process's pool (64 threads at most).
    public static let shared = RotationThreads(limit: 64)

    private struct Pool {
        var idle: [RotationThread] = []
        var all: [RotationThread] = []
        var nextShared = 0
    }

    private let pool = Mutex(Pool())
    private let limit: Int

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Runs `body` with a rotation thread as its task executor. Already on one, `body` runs in place.
    public func run<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        if BlockingAllowed.onCurrentThread { return try await body() }
        let (thread, leased) = lease()
        defer { if leased { giveBack(thread) } }
        return try await withTaskExecutorPreference(thread, isolation: isolation, operation: body)
    }

    /// How many threads the pool has started.
    public var started: Int { pool.withLock { $0.all.count } }

    private func lease() -> (RotationThread, leased: Bool) {
        pool.withLock { pool in
            if let thread = pool.idle.popLast() { return (thread, true) }
            if pool.all.count < limit {
                let thread = RotationThread()
                pool.all.append(thread)
                return (thread, true)
            }
            pool.nextShared = (pool.nextShared + 1) % pool.all.count
            return (pool.all[pool.nextShared], false)
        }
    }

    private func giveBack(_ thread: RotationThread) { pool.withLock { $0.idle.append(thread) } }
}

/// Whether the current thread may block on a database call: true only on a ``RotationThread``.
public enum BlockingAllowed {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// True on a thread that runs nothing but its rotations' jobs.
    public static var onCurrentThread: Bool { pthread_getspecific(key) != nil }

    static func markCurrentThread() { pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1)) }
}
