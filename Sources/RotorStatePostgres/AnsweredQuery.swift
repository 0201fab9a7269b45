import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A statement that cannot wait forever. postgres-nio drops a query written to a connection the
/// server has already closed (a restart, a terminated backend) and never answers it: the caller's
/// await would hang, uncancellable, while the rest of the process carries on (a rotation's step
/// would keep its lock alive for good). Each statement runs in a task of its own; when the
/// connection closes and a second has passed without an answer, the caller gets
/// ``StateSession/ConnectionLost`` and the dropped query is abandoned.
enum AnsweredQuery {
    static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [PostgresRow] {
        guard !connection.isClosed else { throw StateSession.ConnectionLost() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[PostgresRow], any Error>) in
            let answer = Answer(continuation)
            let work = Task {
                do { answer.resume(.success(try await connection.query(query, logger: logger).collect())) } catch { answer.resume(.failure(error)) }
            }
            connection.closeFuture.whenComplete { _ in
                connection.eventLoop.scheduleTask(in: .seconds(1)) {
                    if answer.resume(.failure(StateSession.ConnectionLost())) { work.cancel() }
                }
            }
        }
    }

    /// The continuation, resumed once: by the answer or by the connection's end.
    final class Answer: Sendable {
        private let continuation: Mutex<CheckedContinuation<[PostgresRow], any Error>?>

        init(_ continuation: CheckedContinuation<[PostgresRow], any Error>) { self.continuation = Mutex(continuation) }

        /// Whether this call resumed it.
        @discardableResult
        func resume(_ result: Result<[PostgresRow], any Error>) -> Bool {
            guard let continuation = self.continuation.withLock({ $0.take() }) else { return false }
            continuation.resume(with: result)
            return true
        }
    }
}
