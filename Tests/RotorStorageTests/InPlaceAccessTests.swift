import Foundation
import GRDB
import RotorCore
@testable import RotorStorage
import Testing

/// A rotation's SQLite work runs in place on its rotation thread, and on GRDB's queues everywhere
/// else, so no call ever blocks a thread of Swift's cooperative pool.
@Suite struct InPlaceAccessTests {
    @Test func onARotationThreadReadsAndWritesRunInPlaceElsewhereOnGRDBsQueues() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
        let (wrote, read) = try await withTaskExecutorPreference(RotationThread(name: "rotor-test")) {
            // In place means inside the calling task too (its cancellation is seen there).
            (try await state.pool.writeNow { _ in BlockingAllowed.onCurrentThread && withUnsafeCurrentTask { $0 != nil } },
             try await state.pool.readNow { _ in BlockingAllowed.onCurrentThread && withUnsafeCurrentTask { $0 != nil } })
        }
        #expect(wrote && read)
        let elsewhere = (try await state.pool.writeNow { _ in BlockingAllowed.onCurrentThread },
                         try await state.pool.readNow { _ in BlockingAllowed.onCurrentThread })
        #expect(elsewhere == (false, false))
    }

    /// A step cancelled (its lock lost, its time up) writes nothing more, in place as on GRDB's queues.
    @Test func aCancelledTasksCallDoesNotRun() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
        try await state.pool.writeNow { try $0.execute(sql: "CREATE TABLE probe (n INTEGER)") }
        for executor in [RotationThread(name: "rotor-test") as (any TaskExecutor)?, nil] {
            let task = Task(executorPreference: executor) {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await state.pool.writeNow { try $0.execute(sql: "INSERT INTO probe VALUES (1)") }
            }
            await #expect(throws: CancellationError.self) { try await task.value }
        }
        #expect(try await state.pool.readNow { try Int.fetchOne($0, sql: "SELECT count(*) FROM probe") } == 0)
    }

    /// A task cancelled while its in-place write waits for another process's write lock writes
    /// nothing once the lock comes free: the transaction rolls back.
    @Test func aTaskCancelledWhileItsWriteWaitsForTheLockWritesNothing() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("state.sqlite")
        let state = try SQLiteStateStore(url: url, synchronous: .normal)
        try await state.pool.writeNow { try $0.execute(sql: "CREATE TABLE probe (n INTEGER)") }
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let otherProcess = try DatabaseQueue(path: url.path, configuration: configuration)
        func otherProcessRuns(_ sql: String) throws { try otherProcess.writeWithoutTransaction { try $0.execute(sql: sql) } }
        try otherProcessRuns("BEGIN IMMEDIATE")
        let task = Task(executorPreference: RotationThread(name: "rotor-test")) {
            try await state.pool.writeNow { try $0.execute(sql: "INSERT INTO probe VALUES (1)") }
        }
        try await Task.sleep(for: .milliseconds(300)) // the write now waits in SQLite's busy handler
        task.cancel()
        try otherProcessRuns("COMMIT")
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await state.pool.readNow { try Int.fetchOne($0, sql: "SELECT count(*) FROM probe") } == 0)
        try otherProcess.close()
    }

    /// `FULL` fsyncs every commit to the log, so it can checkpoint less often; `NORMAL` fsyncs the
    /// log only at checkpoints and keeps SQLite's default.
    @Test(arguments: [(SQLiteSynchronous.full, 10_000), (.normal, 1_000)])
    func theLogIsCheckpointedLessOftenOnlyWhenEveryCommitIsSynced(synchronous: SQLiteSynchronous, pages: Int) async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: synchronous)
        let store = try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), synchronous: synchronous)
        for pool in [state.pool, store.pool] {
            #expect(try await pool.readNow { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") } == pages)
            #expect(try await pool.writeNow { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") } == pages)
            #expect(try await pool.writeNow { try Int.fetchOne($0, sql: "PRAGMA journal_size_limit") } == 64 << 20)
        }
    }
}
