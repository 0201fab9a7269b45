import Foundation
import GRDB
import Synchronization
import RotorCore

/// How durable each commit is. `full` syncs the WAL on every commit (survives power loss);
/// `normal` survives a crash of rotor but may lose the last commits on power loss.
public enum SQLiteSynchronous: String, Sendable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
}

/// Opens rotor's SQLite files: mode 0600, WAL, a busy timeout, and a check that the file is an
/// SQLite database of the expected kind before anything is written to it.
enum SQLiteFile {
    static let header = Array("SQLite format 3\u{0}".utf8)
    /// With `synchronous=FULL`, the commit that takes the write-ahead log past this many pages
    /// (about 40 MB) copies them into the database file. SQLite's default, 1,000, made every 100th or
    /// so commit a checkpoint; at 10,000 a checkpoint copies each often-written page (locks,
    /// schedule, indexes) once for ten times as many commits: about 10% more rotations a second
    /// (bench/README.md). Every commit is fsynced to the log, so durability does not change. With
    /// `NORMAL` the log is fsynced only at checkpoints, so it keeps SQLite's 1,000 (a power loss
    /// loses no more than before). Back up a running installation with `sqlite3 FILE ".backup COPY"`
    /// (or `VACUUM INTO`), never by copying files: the log holds the latest commits.
    static func walCheckpointPages(_ synchronous: SQLiteSynchronous) -> Int { synchronous == .full ? 10_000 : 1_000 }
    /// When the log restarts after a checkpoint that copied all of it, the file is cut back to this
    /// size (bytes): a log that a long reader made grow does not keep its disk space for good.
    static let walSizeLimit = 64 << 20

    /// - Parameter applicationID: the value of `PRAGMA application_id` that marks rotor's file of this kind.
    static func openPool(
        at url: URL, applicationID: Int32, what: String, synchronous: SQLiteSynchronous, readonly: Bool = false
    ) throws -> DatabasePool {
        var existed = FileManager.default.fileExists(atPath: url.path)
        if !existed {
            guard !readonly else { throw RotorError(.storeUnavailable, "\(what) \(url.path) does not exist") }
            // Another process may create it first: then it is checked like any existing file.
            existed = try !createPrivateFile(url)
        }
        if existed {
            let inspection = try inspect(url, what: what) { _ in () }
            try requireOwned((inspection.applicationID, inspection.objects), expected: applicationID, url: url, what: what)
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.readonly = readonly
        configuration.label = what
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(walCheckpointPages(synchronous))")
            try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimit)")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: url.path, configuration: configuration)
        } catch {
            throw corrupted(url, what: what, detail: "\(error)")
        }
        try checkApplicationID(pool, url: url, expected: applicationID, what: what, isNew: !existed)
        return pool
    }

    /// Reads `application_id`, the number of schema objects and optionally one value through a
    /// read-only connection, so checks happen before anything can write to the file.
    static func inspect<T: Sendable>(_ url: URL, what: String, read: @escaping @Sendable (Database) throws -> T) throws -> (applicationID: Int32, objects: Int, value: T) {
        try checkHeader(url, what: what)
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: url.path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                (try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0,
                 try read(db))
            }
        } catch {
            throw corrupted(url, what: what, detail: "\(error)")
        }
    }

    /// Refuses a file that belongs to another application (or another kind of rotor file).
    static func requireOwned(_ inspection: (applicationID: Int32, objects: Int), expected: Int32, url: URL, what: String) throws {
        guard inspection.applicationID == expected || (inspection.applicationID == 0 && inspection.objects == 0) else {
            throw RotorError(
                .storeCorrupted, "\(url.path) is not a rotor \(what) (it belongs to another application)",
                remedy: "point --home at rotor's directory, or move this file away; rotor changed nothing")
        }
    }

    /// Refuses a file that is not an SQLite database, without writing to it.
    static func checkHeader(_ url: URL, what: String) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw RotorError(.storeUnavailable, "cannot read \(what) \(url.path)", remedy: "check the file's owner and permissions")
        }
        defer { try? handle.close() }
        let prefix = Array(handle.readData(ofLength: 100))
        if prefix.isEmpty { return }
        guard prefix.count == 100, Array(prefix.prefix(header.count)) == header else {
            throw corrupted(url, what: what, detail: "it is not an SQLite database")
        }
        let rawPageSize = Int(prefix[16]) << 8 | Int(prefix[17])
        let pageSize = rawPageSize == 1 ? 65_536 : rawPageSize
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        guard pageSize >= 512, size % pageSize == 0 else {
            throw corrupted(url, what: what, detail: "it is truncated (\(size) bytes is not a whole number of \(pageSize)-byte pages)")
        }
    }

    static func checkApplicationID(_ pool: DatabasePool, url: URL, expected: Int32, what: String, isNew: Bool) throws {
        let found = try pool.read { db in try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0 }
        guard found != expected else { return }
        try pool.write { db in try db.execute(sql: "PRAGMA application_id = \(expected)") }
    }

    /// Runs the migrations not applied yet. Several processes opening a new file at once race: one
    /// applies a migration while the others wait for its write lock and then fail on what it created;
    /// they try again (each migration is one transaction), so every process ends on the full schema.
    static func migrate(_ migrator: DatabaseMigrator, _ pool: DatabasePool) throws {
        var attempt = 0
        while true {
            do {
                try migrator.migrate(pool)
                return
            } catch {
                if (try? pool.read(migrator.hasCompletedMigrations)) == true { return }
                attempt += 1
                guard attempt < 20 else { throw error }
                usleep(UInt32(10_000 * attempt))
            }
        }
    }

    static func corrupted(_ url: URL, what: String, detail: String) -> RotorError {
        RotorError(
            .storeCorrupted, "\(what) \(url.path) is unreadable: \(detail.prefix(200))",
            remedy: "restore it from a backup; rotor changed nothing")
    }

    /// Creates an empty file readable and writable by its owner only (SQLite gives its -wal and -shm
    /// files the same mode); `false` when the file exists already.
    @discardableResult
    static func createPrivateFile(_ url: URL) throws -> Bool {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let descriptor = open(url.path, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        if descriptor < 0, errno == EEXIST { return false }
        guard descriptor >= 0 else {
            throw RotorError(.storeUnavailable, "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        fchmod(descriptor, 0o600)
        close(descriptor)
        return true
    }
}

extension Date {
    var epochSeconds: Double { timeIntervalSince1970 }
    init(epochSeconds: Double) { self.init(timeIntervalSince1970: epochSeconds) }
}

extension DatabasePool {
    /// A read transaction. On a rotation thread (``BlockingAllowed``) it runs in place; elsewhere the
    /// calling task suspends on GRDB's reader queue instead of blocking a Swift concurrency thread
    /// (WAL readers never wait for writers). A cancelled task's call throws `CancellationError`.
    func readNow<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        guard BlockingAllowed.onCurrentThread else { return try await read(body) }
        return try inPlaceUnlessCancelled(body) { try readInPlace($0) }
    }

    /// A write transaction. On a rotation thread it runs in place, waiting there for the write lock
    /// and the commit's fsync; elsewhere the calling task suspends on GRDB's writer queue, so the
    /// cooperative pool (lease renewal, heartbeats, HTTP) never stalls behind the disk. A task
    /// cancelled before the transaction commits (a step whose lock was lost or whose time is up)
    /// writes nothing: its transaction rolls back and the call throws `CancellationError`.
    func writeNow<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        SQLiteWriteTransactions.started.add(1, ordering: .relaxed)
        guard BlockingAllowed.onCurrentThread else { return try await write(body) }
        return try inPlaceUnlessCancelled(body) { try writeInPlace($0) }
    }

    /// Runs `body` through `access` on this thread, checking for cancellation inside the transaction
    /// before and after `body`, as GRDB's async access does: a throw there rolls the transaction back.
    /// GRDB runs the transaction on the calling thread, inside the calling task, whose flag
    /// `Task.checkCancellation()` reads.
    private func inPlaceUnlessCancelled<T>(
        _ body: @escaping @Sendable (Database) throws -> T, _ access: ((Database) throws -> T) throws -> T
    ) throws -> T {
        try access { db in
            try Task.checkCancellation()
            let result = try body(db)
            try Task.checkCancellation()
            return result
        }
    }

    private func readInPlace<T>(_ body: (Database) throws -> T) throws -> T { try read(body) }
    private func writeInPlace<T>(_ body: (Database) throws -> T) throws -> T { try write(body) }
}

/// How many write transactions (each one commit) rotor's SQLite files have run in this process, for
/// `make bench`'s commits per rotation.
public enum SQLiteWriteTransactions {
    static let started = Atomic<Int>(0)
    /// The count so far.
    public static var count: Int { started.load(ordering: .relaxed) }
}

/// Queries through the statement cache: compiled once per connection, not on every call.
extension Database {
    func execute(cached sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    func fetchRow(cached sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func fetchRows(cached sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    func fetchValue<T: DatabaseValueConvertible & StatementColumnConvertible>(
        _ type: T.Type, cached sql: String, arguments: StatementArguments = StatementArguments()
    ) throws -> T? {
        try T.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    func fetchValues<T: DatabaseValueConvertible & StatementColumnConvertible>(
        _ type: T.Type, cached sql: String, arguments: StatementArguments = StatementArguments()
    ) throws -> [T] {
        try T.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }
}
