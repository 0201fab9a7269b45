import Logging
import PostgresNIO
import RotorCore

/// One transaction on one connection of the state database, with the few helpers the store needs.
struct StateSession {
    /// `BEGIN` failed: nothing of the transaction ran (a connection the server ended while it was idle).
    struct Stale: Error { let underlying: any Error }

    let connection: PostgresConnection
    let logger: Logger

    /// Runs `body` between `BEGIN` and `COMMIT` (READ COMMITTED). A task cancelled before the commit
    /// rolls back, so a cancelled step's write never lands; a failed `ROLLBACK` closes the connection.
    static func transaction<T>(_ connection: PostgresConnection, logger: Logger, _ body: (StateSession) async throws -> T) async throws -> T {
        do {
            try await connection.query("BEGIN", logger: logger)
        } catch {
            throw Stale(underlying: error)
        }
        let session = StateSession(connection: connection, logger: logger)
        do {
            try Task.checkCancellation()
            let result = try await body(session)
            try Task.checkCancellation()
            try await connection.query("COMMIT", logger: logger)
            return result
        } catch {
            do { try await connection.query("ROLLBACK", logger: logger) } catch { try? await connection.close() }
            throw error
        }
    }

    /// The rows of `query`, for reading by column name.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: logger).collect().map { PostgresRandomAccessRow($0) }
    }

    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? { try await rows(query).first }

    func run(_ query: PostgresQuery) async throws { _ = try await connection.query(query, logger: logger).collect() }
}

extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T { try self[column].decode(T.self) }
}
