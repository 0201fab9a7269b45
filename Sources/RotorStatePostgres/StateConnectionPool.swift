import Logging
import PostgresNIO
import RotorCore
import RotorPostgres

/// A few connections to the state database, opened on demand through ``PostgresConnector`` (verified
/// TLS by default, SCRAM only) with `search_path` set to rotor's schema. A connection that failed at
/// the connection level is closed, never handed out again; the next call opens a new one, which is
/// how the store rides out a restarted server.
actor StateConnectionPool {
    private let settings: PostgresStateSettings
    private let connector: PostgresConnector
    private let logger: Logger
    private var idle: [PostgresConnection] = []
    private var opened = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false

    init(settings: PostgresStateSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        connector = PostgresConnector(
            tls: settings.tls, caFile: settings.caFile, connectTimeout: .seconds(10), statementTimeout: .seconds(15), lockTimeout: .seconds(10), logger: logger)
    }

    /// A store dropped without ``close()`` still closes its connections (each kept alive until it has).
    deinit {
        for connection in idle { connection.close().whenComplete { _ in withExtendedLifetime(connection) {} } }
    }

    /// Runs `body` on a connection. When a connection taken from the idle list fails its `BEGIN`
    /// (``StateSession/Stale``: the server ended it while idle), every idle one is closed and `body`
    /// runs once more on a new connection.
    nonisolated func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        for _ in 0..<2 {
            let (connection, reused) = try await lease()
            do {
                let result = try await body(connection)
                await giveBack(connection, healthy: true)
                return result
            } catch let stale as StateSession.Stale {
                await giveBack(connection, healthy: false)
                guard reused else { throw stale.underlying }
                // A restarted server ended every idle connection: open a new one rather than try each.
                await dropIdle()
                logger.debug("state database: an idle connection had ended; opening another")
            } catch {
                await giveBack(connection, healthy: !Self.breaksConnection(error))
                throw error
            }
        }
        throw StateStoreErrors.unreachable(settings, detail: "connections keep closing")
    }

    var isClosed: Bool { closed }

    /// Closes every connection; later calls fail.
    func close() async {
        closed = true
        let connections = idle
        idle = []
        for connection in connections { try? await connection.close() }
        for waiter in waiters { waiter.resume() }
        waiters = []
    }

    private func dropIdle() {
        let dropped = idle
        idle = []
        opened -= dropped.count
        for connection in dropped { Task { [connection] in try? await connection.close() } }
        for _ in dropped { wakeOne() }
    }

    private func lease() async throws -> (PostgresConnection, Bool) {
        while true {
            guard !closed else { throw StateStoreErrors.unreachable(settings, detail: "the store is closed") }
            if let connection = idle.popLast() {
                if connection.isClosed { opened -= 1; continue }
                return (connection, true)
            }
            if opened < settings.poolSize {
                opened += 1
                do {
                    return (try await open(), false)
                } catch {
                    opened -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    /// rotor's transactions send their statements back to back and never wait on anything outside, so
    /// a session idle inside one belongs to a process that stopped (a paused or frozen host): the server
    /// ends it after 5 s and its row locks go, within the 10 s others wait for a lock.
    static let idleInTransactionMilliseconds = 5000

    /// A connection outside the pool (the `LISTEN` of ``PostgresStateStore/dueWorkAnnouncements()``); the caller closes it.
    nonisolated func dedicatedConnection() async throws -> PostgresConnection { try await open() }

    private nonisolated func open() async throws -> PostgresConnection {
        do {
            return try await connector.open(
                host: settings.host, port: settings.port, username: settings.username, password: settings.password, database: settings.database,
                parameters: [("search_path", settings.schema), ("idle_in_transaction_session_timeout", "\(Self.idleInTransactionMilliseconds)")])
        } catch {
            throw StateStoreErrors.connecting(error, settings)
        }
    }

    private func giveBack(_ connection: PostgresConnection, healthy: Bool) {
        if healthy, !closed, !connection.isClosed {
            idle.append(connection)
        } else {
            opened -= 1
            Task { [connection] in try? await connection.close() }
        }
        wakeOne()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    /// Whether the connection may be in an unknown state after `error`: anything but an error the
    /// server reported for a statement (after which the session rolled back and carries on).
    static func breaksConnection(_ error: any Error) -> Bool {
        if error is RotorError || error is CancellationError { return false }
        guard let psql = error as? PSQLError else { return true }
        return psql.code != .server
    }
}
