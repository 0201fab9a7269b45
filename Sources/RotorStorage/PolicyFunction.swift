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
        // Retained by the connection until the function is removed or replaced (the destructor).
        // DIRECTONLY: schema objects planted in the file (a view, a trigger, an index) cannot call it.
        let code = sqlite3_create_function_v2(
            connection, Self.name, 1, Self.flags, Unmanaged.passRetained(self).toOpaque(),
            { context, _, arguments in
                let function = Unmanaged<PolicyFunction>.fromOpaque(sqlite3_user_data(context)!).takeUnretainedValue()
                guard let value = arguments?[0], let id = PolicyFunction.text(value) else {
                    // Not an id rotor wrote: a candidate for the verified re-read, never silently skipped.
                    return sqlite3_result_int64(context, -1)
                }
                guard let index = function.policyIndex(id) else { return sqlite3_result_null(context) }
                if index >= 0 { function.matched.withLock { $0 += 1 } }
                sqlite3_result_int64(context, Int64(index))
            }, nil, nil, { pointer in pointer.map { Unmanaged<PolicyFunction>.fromOpaque($0).release() } })
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot register \(Self.name)") }
    }

    private static let flags = SQLITE_UTF8 | SQLITE_DIRECTONLY

    /// A TEXT value of valid UTF-8 without NUL, as rotor stores ids; `nil` for anything else.
    fileprivate static func text(_ value: OpaquePointer) -> String? {
        guard sqlite3_value_type(value) == SQLITE_TEXT, let text = sqlite3_value_text(value) else { return nil }
        let bytes = UnsafeBufferPointer(start: text, count: Int(sqlite3_value_bytes(value)))
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Unregisters the function (the connection goes back to the pool); SQLite then releases it.
    func remove() throws {
        let code = sqlite3_create_function_v2(connection, Self.name, 1, Self.flags, nil, nil, nil, nil, nil)
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot unregister \(Self.name)") }
    }

    /// The ids counted so far, starting again from zero.
    func reset() -> Int { matched.withLock { count in defer { count = 0 }; return count } }
}
