import Logging
import PostgresNIO
import RotorCore

/// One transaction on one connection of the state database, with the few helpers the store needs.
struct StateSession {
    /// `BEGIN` failed: nothing of the transaction ran (a connection the server ended while it was idle).
    struct Stale: Error { let underlying: any Error }
    /// The server closed the connection while a statement was pending (see ``AnsweredQuery``).
    struct ConnectionLost: Error {}

    let connection: PostgresConnection
    let logger: Logger

    /// Runs `body` between `BEGIN` and `COMMIT`: READ COMMITTED for writes (each statement sees what
    /// committed before it, row locks order the writers), one snapshot for reads (`readOnly`: REPEATABLE
    /// READ, as SQLite's read transactions). A task cancelled before the commit rolls back, so a
    /// cancelled step's write never lands; a failed `ROLLBACK` closes the connection.
    static func transaction<T>(
        _ connection: PostgresConnection, readOnly: Bool = false, logger: Logger, _ body: (StateSession) async throws -> T
    ) async throws -> T {
        do {
            _ = try await AnsweredQuery.run(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", on: connection, logger: logger)
        } catch {
            throw Stale(underlying: error)
        }
        let session = StateSession(connection: connection, logger: logger)
        let result: T
        do {
            try Task.checkCancellation()
            result = try await body(session)
            try Task.checkCancellation()
        } catch {
            do { _ = try await AnsweredQuery.run("ROLLBACK", on: connection, logger: logger) } catch { try? await connection.close() }
            throw error
        }
        do {
            _ = try await AnsweredQuery.run("COMMIT", on: connection, logger: logger)
        } catch let error as PSQLError where error.code == .server {
            throw error // refused (a deferred constraint, a serialization failure): nothing was written
        } catch {
            try? await connection.close()
            throw CommitOutcomeUnknown()
        }
        return result
    }

    /// The connection failed after `COMMIT` was sent: the transaction may or may not have landed.
    /// Never retried as it stands (a write that landed would be written twice); the engine stops
    /// the run and the next one resumes from whatever the journal holds.
    struct CommitOutcomeUnknown: Error {}

    /// The rows of `query`, for reading by column name.
    /// A cancelled task sends no further statement (the transaction then rolls back).
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try Task.checkCancellation()
        return try await AnsweredQuery.run(query, on: connection, logger: logger).map { PostgresRandomAccessRow($0) }
    }

    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? { try await rows(query).first }

    func run(_ query: PostgresQuery) async throws {
        try Task.checkCancellation()
        _ = try await AnsweredQuery.run(query, on: connection, logger: logger)
    }
}

extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T { try self[column].decode(T.self) }
}
