import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A statement that cannot wait forever. postgres-nio drops a query written to a connection the
/// server has already closed (a restart, a terminated backend) and never answers it: the caller's
/// await would hang, uncancellable, while the rest of the process carries on (a rotation's step
/// would keep its lock alive for good). Each statement runs in a task of its own, and a timer on the
/// connection's event loop looks every second whether the connection has closed: then the caller
/// gets ``StateSession/ConnectionLost`` (a lost `COMMIT` becomes "outcome unknown") and the dropped
/// query's task is left behind. The timer ends with the answer, so nothing accumulates on a
/// connection that lives long. A statement unanswered for ``deadline`` (twice the server's statement
/// timeout: a peer that vanished without closing the connection) closes the connection first.
enum AnsweredQuery {
    static let deadline: TimeAmount = .seconds(30)

    static func run(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [PostgresRow] {
        guard !connection.isClosed else { throw StateSession.ConnectionLost() }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[PostgresRow], any Error>) in
            let answer = Answer(continuation)
            let started = NIODeadline.now()
            let watch = connection.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { watch in
                if !connection.isClosed, NIODeadline.now() - started > deadline { let closing: EventLoopFuture<Void> = connection.close(); _ = closing }
                guard connection.isClosed else { return }
                watch.cancel()
                answer.resume(.failure(StateSession.ConnectionLost()))
            }
            Task {
                let result: Result<[PostgresRow], any Error>
                do { result = .success(try await connection.query(query, logger: logger).collect()) } catch { result = .failure(error) }
                watch.cancel()
                answer.resume(result)
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
