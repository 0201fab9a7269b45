import Foundation

/// Threads of the tests' own. At the start of `make test` about a hundred suites share the two
/// cooperative threads, and a job queued there may wait seconds. Work that must keep its pace runs
/// here instead: the in-process servers (proxies, stand-ins, emulators) that other processes call
/// with deadlines, and engines whose lock heartbeat a test times.
public final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    /// The executor every in-process server and timed engine of the tests uses.
    public static let shared = DedicatedExecutor(threads: 4, name: "rotor-tests")

    private let condition = NSCondition()
    private var queued: [UnownedJob] = []
    private var next = 0

    init(threads: Int, name: String) {
        for index in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "\(name)-\(index)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        queued.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while next == queued.count { condition.wait() }
            let job = queued[next]
            next += 1
            if next == queued.count { queued.removeAll(keepingCapacity: true); next = 0 }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Runs blocking work (a read that waits for a child's output) on a thread of its own, so it never
/// holds one of the cooperative threads every test shares.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
