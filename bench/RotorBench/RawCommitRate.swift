import Foundation
import GRDB
import RotorStorage

/// The machine's own limit for the durable-rotation figure: how many one-row write transactions
/// per second SQLite commits in WAL mode with the given `synchronous`, through GRDB as rotor does.
enum RawCommitRate {
    static func measure(synchronous: SQLiteSynchronous, commits: Int = 3000) async throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-raw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)") }
        let pool = try DatabasePool(path: directory.appendingPathComponent("raw.sqlite").path, configuration: configuration)
        try await pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)") }
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<commits {
            try await pool.write { db in try db.execute(sql: "INSERT INTO t (v) VALUES (?)", arguments: ["row \(index)"]) }
        }
        return Double(commits) / (clock.now - start).seconds
    }
}
