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
/// instead of handing it to a database queue and back (two thread hand-offs saved per call), as
/// long as the thread carries one rotation only (``BlockingAllowed``). Swift's cooperative pool
/// never blocks on it. A default actor entered from the rotation runs on this thread too, so other
/// callers of that actor wait while the rotation's SQLite call does.
public final class RotationThread: TaskExecutor, @unchecked Sendable {
    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var next = 0
    private var idle = false
    /// How many rotations run on this thread now (leased by ``RotationThreads``).
    let users = Atomic(0)

    /// Starts the thread, which runs for the rest of the process; `name` (its first 15 bytes, all
    /// Linux keeps) shows in debuggers.
    public init(name: String = "rotor-rotation") {
        let thread = Thread { [self] in run() }
        thread.name = String(decoding: name.utf8.prefix(15), as: UTF8.self)
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
        BlockingAllowed.markCurrentThread(self)
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
        let job = jobs[next]
        next += 1
        // Under steady load the queue may never drain: drop the jobs already taken now and then.
        if next >= 1024 {
            jobs.removeFirst(next)
            next = 0
        }
        return job
    }
}

/// The threads rotations run on: each running rotation leases one of its own, up to `limit`
/// threads; past that, a rotation shares the least-used thread, and the SQLite calls of rotations
/// that share a thread suspend on GRDB's queues instead of blocking it (so one's wait for the disk
/// or another process's lock never stalls the others' heartbeats; a rotation that joins a thread
/// while its first rotation is inside a call starts once that call returns). Threads are kept for
/// the next rotation, never stopped.
public final class RotationThreads: Sendable {
    /// The process's pool (64 threads at most).
    public static let shared = RotationThreads(limit: 64)

    /// The shortest lock lifetime (seconds) a rotation may run on a rotation thread with. A call run
    /// in place may wait there for another process's write lock for up to SQLite's busy timeout
    /// (10 s), and the rotation cannot renew its own lock meanwhile; the heartbeat renews every third
    /// of the lifetime and gives up at two thirds, so only a lock of 30 s or more outlives that wait.
    /// Rotations with shorter locks keep their calls on GRDB's queues.
    public static let shortestLockTTL: Double = 30

    private let threads = Mutex<[RotationThread]>([])
    private let limit: Int

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Runs `body` with a rotation thread as its task executor. Already on one, `body` runs in place.
    public func run<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T
    ) async throws -> T {
        if BlockingAllowed.currentThread != nil { return try await body() }
        let thread = lease()
        defer { thread.users.subtract(1, ordering: .relaxed) }
        return try await withTaskExecutorPreference(thread, isolation: isolation, operation: body)
    }

    /// How many threads the pool has started.
    public var started: Int { threads.withLock { $0.count } }

    private func lease() -> RotationThread {
        threads.withLock { threads in
            let leastUsed = threads.min { $0.users.load(ordering: .relaxed) < $1.users.load(ordering: .relaxed) }
            let thread: RotationThread
            if let leastUsed, leastUsed.users.load(ordering: .relaxed) == 0 || threads.count >= limit {
                thread = leastUsed
            } else {
                thread = RotationThread()
                threads.append(thread)
            }
            thread.users.add(1, ordering: .relaxed)
            return thread
        }
    }
}

/// Whether the current thread may block on a database call: only a ``RotationThread`` that carries
/// a single rotation may.
public enum BlockingAllowed {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key, nil)
        precondition(created == 0, "pthread_key_create failed (\(created))")
        return key
    }()

    /// True on a rotation thread that runs nothing but one rotation's jobs.
    public static var onCurrentThread: Bool {
        guard let thread = currentThread else { return false }
        return thread.users.load(ordering: .relaxed) <= 1
    }

    /// The rotation thread this code runs on, if any.
    static var currentThread: RotationThread? {
        pthread_getspecific(key).map { Unmanaged<RotationThread>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Marks the calling thread as `thread`'s (which lives, with its thread, for the whole process).
    static func markCurrentThread(_ thread: RotationThread) {
        pthread_setspecific(key, Unmanaged.passUnretained(thread).toOpaque())
    }
}
