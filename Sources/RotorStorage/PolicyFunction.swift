import GRDB
import GRDBSQLite
import Synchronization

/// The `rotor_reconcile_policy(id)` SQL function of a full reconcile pass: the index of the id's one
/// policy (`-1` for several, NULL for none), counting the ids that have one. Registered through
/// SQLite's C API: it runs once per row of a million-secret scan, where GRDB's general function
/// wrapper (an argument array and a value per call) would cost more than the scan itself.
final class PolicyFunction: Sendable {
    static let name = "rotor_reconcile_policy"
    private let policyIndex: @Sendable (String) -> Int?
    private let matched = Mutex(0)
    private nonisolated(unsafe) let connection: OpaquePointer

    /// Registers the function on `db`'s connection until ``remove()``.
    init(_ policyIndex: @escaping @Sendable (String) -> Int?, on db: Database) throws {
        self.policyIndex = policyIndex
        guard let connection = db.sqliteConnection else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "closed connection") }
        self.connection = connection
        let code = sqlite3_create_function_v2(
            connection, Self.name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, Unmanaged.passUnretained(self).toOpaque(),
            { context, _, arguments in
                let function = Unmanaged<PolicyFunction>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                guard let value = arguments?[0], let text = sqlite3_value_text(value) else { return sqlite3_result_null(context) }
                let id = String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_value_bytes(value))), as: UTF8.self)
                guard let index = function.policyIndex(id) else { return sqlite3_result_null(context) }
                if index >= 0 { function.matched.withLock { $0 += 1 } }
                sqlite3_result_int64(context, Int64(index))
            }, nil, nil, nil)
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot register \(Self.name)") }
    }

    /// Unregisters the function (the connection goes back to the pool).
    func remove() {
        sqlite3_create_function_v2(connection, Self.name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nil, nil, nil, nil, nil)
    }

    /// The ids counted so far, starting again from zero.
    func reset() -> Int { matched.withLock { count in defer { count = 0 }; return count } }
}
