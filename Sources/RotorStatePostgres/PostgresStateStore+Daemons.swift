import Foundation
import PostgresNIO
import RotorCore

/// The daemons sharing this state and their heartbeats (`rotor daemons`). Rows of daemons not heard
/// from for a day are dropped by the next heartbeat.
extension PostgresStateStore: DaemonRegistry {
    public func heartbeat(_ daemon: DaemonRecord) async throws {
        let at = daemon.heartbeatAt.timeIntervalSince1970
        try await write("recording a daemon's heartbeat") { session in
            try await session.run("""
                INSERT INTO daemon (owner, host, pid, version, started_at, heartbeat_at)
                VALUES (\(daemon.owner), \(daemon.host), \(Int(daemon.pid)), \(daemon.version), \(daemon.startedAt.timeIntervalSince1970), \(at))
                ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
                """)
            try await session.run("DELETE FROM daemon WHERE heartbeat_at < \(at - 86_400)")
        }
    }

    public func daemons(heardSince since: Date) async throws -> [DaemonRecord] {
        try await read("listing daemons") { session in
            try await session.rows("SELECT * FROM daemon WHERE heartbeat_at >= \(since.timeIntervalSince1970) ORDER BY heartbeat_at DESC, owner").map { row in
                DaemonRecord(
                    owner: try row.value("owner"), host: try row.value("host"), pid: Int32(try row.value("pid", as: Int.self)),
                    version: try row.value("version"), startedAt: Date(timeIntervalSince1970: try row.value("started_at")),
                    heartbeatAt: Date(timeIntervalSince1970: try row.value("heartbeat_at")))
            }
        }
    }
}
