import Foundation
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
        let (wrote, read) = try await withTaskExecutorPreference(RotationThread(name: "rotor-test-in-place")) {
            (try await state.pool.writeNow { _ in BlockingAllowed.onCurrentThread },
             try await state.pool.readNow { _ in BlockingAllowed.onCurrentThread })
        }
        #expect(wrote && read)
        let elsewhere = (try await state.pool.writeNow { _ in BlockingAllowed.onCurrentThread },
                         try await state.pool.readNow { _ in BlockingAllowed.onCurrentThread })
        #expect(elsewhere == (false, false))
    }

    @Test func bothFilesCheckpointTheirLogEveryTenThousandPages() async throws {
        let directory = try TemporaryDirectory.make()
        defer { try? FileManager.default.removeItem(at: directory) }
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .full)
        let store = try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), synchronous: .full)
        for pool in [state.pool, store.pool] {
            #expect(try await pool.readNow { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") } == SQLiteFile.walCheckpointPages)
            #expect(try await pool.writeNow { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") } == 10_000)
        }
    }
}
