@testable import RotorCore
import Synchronization
import Testing

/// The threads rotations run on: their jobs stay on them, and only they may block on the database.
@Suite struct RotationThreadTests {
    @Test func aRotationsJobsAndItsChildTasksRunOnItsThread() async throws {
        #expect(!BlockingAllowed.onCurrentThread)
        let thread = RotationThread(name: "rotor-test")
        let seen = try await withTaskExecutorPreference(thread) {
            var seen = [BlockingAllowed.onCurrentThread]
            seen.append(try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { BlockingAllowed.onCurrentThread }
                return try await group.next() ?? false
            })
            try await Task.sleep(for: .milliseconds(20)) // resumed from the clock's thread
            seen.append(BlockingAllowed.onCurrentThread)
            return seen
        }
        #expect(seen == [true, true, true])
        #expect(!BlockingAllowed.onCurrentThread)
    }

    /// Three rotations on a pool of two: two threads start, two rotations share one, and the
    /// SQLite calls of rotations that share a thread do not block it (``BlockingAllowed``).
    @Test func eachRunningRotationLeasesAThreadOfItsOwnUpToTheLimit() async throws {
        let threads = RotationThreads(limit: 2)
        let gate = Gate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await threads.run {
                        #expect(BlockingAllowed.currentThread != nil)
                        gate.inside.add(1, ordering: .relaxed)
                        while !gate.open.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(5)) }
                        let allowed = BlockingAllowed.onCurrentThread
                        gate.mayBlock.withLock { $0.append(allowed) }
                        // No rotation leaves (and frees its share) before all three have looked.
                        while gate.mayBlock.withLock({ $0.count }) < 3 { try await Task.sleep(for: .milliseconds(5)) }
                    }
                }
            }
            while gate.inside.load(ordering: .relaxed) < 3 { try await Task.sleep(for: .milliseconds(5)) }
            gate.open.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        #expect(threads.started == 2)
        #expect(gate.mayBlock.withLock { $0.sorted { !$0 && $1 } } == [false, false, true])
        // A finished rotation gives its thread back: the next one takes it instead of starting one.
        try await threads.run { #expect(BlockingAllowed.onCurrentThread) }
        #expect(threads.started == 2)
    }

    @Test func aRunAlreadyOnARotationThreadStaysThere() async throws {
        let threads = RotationThreads(limit: 4)
        try await threads.run {
            try await threads.run { #expect(BlockingAllowed.onCurrentThread) }
        }
        #expect(threads.started == 1)
    }
}

/// Holds three rotations inside their runs until the test has seen them all.
private final class Gate: Sendable {
    let inside = Atomic(0)
    let open = Atomic(false)
    let mayBlock = Mutex<[Bool]>([])
}
