import Foundation
import GRDB
import RotorCore

/// A column's value as the state database holds it, for copying the state elsewhere (`rotor state migrate`).
public enum StoredValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob(Data)
}

extension SQLiteStateStore {
    /// Up to `limit` rows of `table` after `rowID`, in rowid order: each row's rowid and its `columns`.
    /// `table` and `columns` must be plain names (they come from the copier's own list).
    public func exportRows(_ table: String, columns: [String], after rowID: Int64, limit: Int) async throws -> [(rowID: Int64, values: [StoredValue])] {
        guard ([table] + columns).allSatisfy(Self.isPlainName) else {
            throw RotorError(.invalidParameter, "export: '\(table)' or one of its columns is not a plain name")
        }
        let sql = "SELECT rowid, \(columns.joined(separator: ", ")) FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?"
        return try await pool.readNow { db in
            try Row.fetchAll(db, sql: sql, arguments: [rowID, limit]).map { row in
                (row[0], (1...columns.count).map { Self.stored(row[$0] as DatabaseValue) })
            }
        }
    }

    private static func stored(_ value: DatabaseValue) -> StoredValue {
        switch value.storage {
        case .null: .null
        case .int64(let number): .integer(number)
        case .double(let number): .real(number)
        case .string(let text): .text(text)
        case .blob(let data): .blob(data)
        }
    }

    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) }
    }
}
