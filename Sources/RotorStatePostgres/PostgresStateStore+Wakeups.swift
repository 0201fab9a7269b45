import Foundation
import Logging
import PostgresNIO
import RotorCore

/// Wake-ups without polling: transactions that make work claimable (a released lock, a requested
/// rotation, a deadline saved as due now) `NOTIFY` the schema's channel, delivered when they commit;
/// every daemon `LISTEN`s on a connection of its own outside the pool. The notification carries no
/// payload: any role of the database may listen on any channel, so it says only "look again".
extension PostgresStateStore: DueWorkSignal {
    /// The channel of a schema: `rotor_due.SCHEMA`, cut to PostgreSQL's 63 bytes (schema names are ASCII).
    static func channel(_ schema: String) -> String { String("rotor_due.\(schema)".prefix(63)) }

    static let notify: PostgresQuery = "SELECT pg_notify(left('rotor_due.' || current_schema(), 63), '')"

    /// Inside a write transaction: wake the listening daemons once it commits (a request, which must
    /// not be recorded without its wake-up).
    static func announceDueWork(_ session: StateSession) async throws { try await session.run(notify) }

    /// After a transaction committed: wake the listening daemons, best effort. Outside the journal's
    /// transactions, so a full notification queue (another role of the server can fill it) never
    /// fails a rotation's write; a lost wake-up costs one poll.
    func announceDueWork() async {
        do {
            try await pool.withConnection { connection in _ = try await AnsweredQuery.run(Self.notify, on: connection, logger: logger) }
        } catch {
            logger.debug("state database: a wake-up was not sent", metadata: ["error": "\(error)"])
        }
    }

    public func dueWorkAnnouncements() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let (pool, channel, logger) = (pool, Self.channel(settings.schema), logger)
        let listener = Task {
            var failures = 0
            while !Task.isCancelled, await !pool.isClosed {
                do {
                    let connection = try await pool.dedicatedConnection()
                    do {
                        // Cancelled (the daemon stops): closing the connection ends the notifications.
                        try await withTaskCancellationHandler {
                            try await connection.listen(on: channel) { notifications in
                                // Whatever was announced while this listener was away is looked at now.
                                continuation.yield()
                                failures = 0
                                try await Self.relay(notifications, to: continuation, pinging: connection, logger: logger)
                            }
                        } onCancel: {
                            connection.close().whenComplete { _ in }
                        }
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                } catch {
                    if Task.isCancelled { break }
                    failures += 1
                    logger.notice("state database: listening for wake-ups failed; polling until it is back", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(min(30, 1 << min(failures, 5))))
            }
        }
        continuation.onTermination = { _ in listener.cancel() }
        return stream
    }

    /// Yields each notification; a `SELECT 1` every 30 s finds a connection that died silently (a
    /// half-open TCP connection never delivers another notification), which ends the relay.
    static func relay(
        _ notifications: PostgresNotificationSequence, to continuation: AsyncStream<Void>.Continuation, pinging connection: PostgresConnection, logger: Logger
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { for try await _ in notifications { continuation.yield() } }
            group.addTask {
                while true {
                    try await Task.sleep(for: .seconds(30))
                    _ = try await AnsweredQuery.run("SELECT 1", on: connection, logger: logger)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}
