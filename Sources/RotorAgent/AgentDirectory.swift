import Foundation
import RotorCore
#if canImport(Glibc)
import Glibc
#endif

/// Where the agents of a host register for rotation notices: one file per running agent (its
/// loopback port and a random key), mode 0600 in a 0700 directory (default `$ROTOR_HOME/agents`, or
/// `ROTOR_AGENTS_DIR`), both owned by the user that runs rotor and the agents: only that user reads
/// the keys, so only it can sign a notice. The file names a port, never a URL. A running agent holds
/// an exclusive lock on its file; a file nobody holds is an agent that is gone, and is removed.
public struct AgentDirectory: Sendable {
    public struct Registration: Codable, Sendable, Equatable {
        public let port: Int
        /// The agent's notice key, base64.
        public let key: String
        public let pid: Int32
    }

    /// An agent's hold on its registration: the open, locked file, closed and removed at exit.
    public final class Hold: Sendable {
        let descriptor: Int32
        public let url: URL

        init(descriptor: Int32, url: URL) {
            self.descriptor = descriptor
            self.url = url
        }

        public func release() {
            unlink(url.path)
            close(descriptor)
        }
    }

    public let url: URL
    /// More registrations than this are not read (a planted flood cannot make rotor open thousands of connections).
    public static let maximumAgents = 64
    static let maximumFileSize = 4096

    public init(url: URL) { self.url = url }

    /// `ROTOR_AGENTS_DIR`, else `agents` in rotor's home.
    public static func resolve(environment: [String: String], home: URL) -> AgentDirectory {
        AgentDirectory(url: environment["ROTOR_AGENTS_DIR"].map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent("agents"))
    }

    /// Writes and locks this agent's registration; release the hold at exit.
    public func register(port: Int, signer: NoticeSigner) throws -> Hold {
        if mkdir(url.path, 0o700) != 0, errno != EEXIST { throw refused("cannot create it (\(String(cString: strerror(errno))))") }
        try checkPrivate()
        let file = url.appendingPathComponent("agent-\(getpid())-\(UUID().uuidString.prefix(8)).json")
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw refused("cannot create a registration (\(String(cString: strerror(errno))))") }
        let data = Array((try JSONEncoder().encode(Registration(port: port, key: signer.base64Key, pid: getpid()))))
        guard fchmod(descriptor, 0o600) == 0, data.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == data.count,
              flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            unlink(file.path)
            close(descriptor)
            throw refused("cannot write the registration")
        }
        return Hold(descriptor: descriptor, url: file)
    }

    /// The registrations of running agents. Nothing when the directory is missing or not private;
    /// entries that are not private regular files of this user, or too large, are skipped; files
    /// whose agent is gone (no lock held) are removed.
    public func registrations() -> [Registration] {
        guard (try? checkPrivate()) != nil, let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else { return [] }
        var found: [Registration] = []
        for name in names.sorted() where name.hasSuffix(".json") && found.count < Self.maximumAgents {
            if let registration = read(url.appendingPathComponent(name)) { found.append(registration) }
        }
        return found
    }

    private func read(_ file: URL) -> Registration? {
        let descriptor = open(file.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(), info.st_mode & 0o077 == 0,
              info.st_size <= Self.maximumFileSize else { return nil }
        // A shared lock granted means no agent holds the file: it is gone.
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            unlink(file.path)
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: Self.maximumFileSize)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, Self.maximumFileSize) }
        guard count > 0, let registration = try? JSONDecoder().decode(Registration.self, from: Data(buffer.prefix(count))),
              (1...65535).contains(registration.port) else { return nil }
        return registration
    }

    /// The directory must be a real directory of this user, closed to everyone else.
    func checkPrivate() throws {
        var info = stat()
        guard lstat(url.path, &info) == 0 else { throw refused("it does not exist") }
        guard (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw refused("it must be a directory of this user with mode 0700 (rotation notices are off until then)")
        }
    }

    func refused(_ why: String) -> RotorError {
        RotorError(.invalidInput, "the agents directory \(url.path.printable(limit: 200)): \(why)",
                   remedy: "run rotor and its agents as the same user; chmod 700 the directory, or set ROTOR_AGENTS_DIR")
    }
}
