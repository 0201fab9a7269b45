import Foundation
import RotorCore

/// Writes a new private file so that a crash at any instant leaves either no file or the whole one:
/// a temporary file (0600) is written and fsynced, linked to its final name (which fails if the name
/// exists, so a key is never replaced), and the directory is fsynced.
enum KeyFile {
    /// Returns `false` without writing when `url` already exists.
    static func createDurably(_ url: URL, contents: [UInt8]) throws -> Bool {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        defer { unlink(temporary.path) }
        let descriptor = open(temporary.path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure("create", temporary) }
        let written = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        let error = errno
        close(descriptor)
        guard written == contents.count, synced else { errno = error; throw failure("write", temporary) }
        if link(temporary.path, url.path) != 0 {
            if errno == EEXIST { return false }
            // Filesystems without hard links: rename, which cannot refuse an existing name, so check first.
            guard errno == EPERM || errno == EOPNOTSUPP, !FileManager.default.fileExists(atPath: url.path),
                  rename(temporary.path, url.path) == 0 else { throw failure("link", url) }
        }
        try syncDirectory(directory)
        return true
    }

    static func syncDirectory(_ directory: URL) throws {
        let descriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open", directory) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("fsync", directory) }
    }

    private static func failure(_ operation: String, _ url: URL) -> RotorError {
        RotorError(.storeUnavailable, "cannot \(operation) \(url.path): \(String(cString: strerror(errno)))",
                   remedy: "check the directory's permissions and free space; nothing was replaced")
    }
}
