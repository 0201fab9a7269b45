import Foundation
import RotorCore

/// Where the agents of a host register for rotation notices: one file per running agent (its
/// loopback port, its notice key, its pid), mode 0600 in a 0700 directory (default
/// `$ROTOR_HOME/agents`, or `ROTOR_AGENTS_DIR`). Only processes of the same user read the keys, so
/// only they can sign a notice. The file names a port, never a URL: a planted file cannot make rotor
/// post anywhere but 127.0.0.1.
public struct AgentDirectory: Sendable {
    public struct Registration: Codable, Sendable, Equatable {
        public let port: Int
        /// The agent's notice key, base64.
        public let key: String
        public let pid: Int32
    }

    public let url: URL

    public init(url: URL) { self.url = url }

    /// `ROTOR_AGENTS_DIR`, else `agents` in rotor's home.
    public static func resolve(environment: [String: String], home: URL) -> AgentDirectory {
        AgentDirectory(url: environment["ROTOR_AGENTS_DIR"].map { URL(fileURLWithPath: $0) } ?? home.appendingPathComponent("agents"))
    }

    /// Writes this agent's registration; returns its file, to remove at exit.
    public func register(port: Int, signer: NoticeSigner) throws -> URL {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try checkPrivate()
        let registration = Registration(port: port, key: signer.base64Key, pid: getpid())
        let file = url.appendingPathComponent("agent-\(getpid())-\(UUID().uuidString.prefix(8)).json")
        let data = try JSONEncoder().encode(registration)
        guard FileManager.default.createFile(atPath: file.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw RotorError(.invalidInput, "cannot write the agent registration in \(url.path.printable(limit: 200))",
                             remedy: "check the directory's owner and permissions, or set ROTOR_AGENTS_DIR")
        }
        return file
    }

    /// The registrations of agents, skipping files that do not parse; an empty list when the
    /// directory is missing, or is writable by others (then nothing in it is trusted).
    public func registrations() -> [(file: URL, registration: Registration)] {
        guard (try? checkPrivate()) != nil, let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) else { return [] }
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            let file = url.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file.path), data.count < 4096,
                  let registration = try? JSONDecoder().decode(Registration.self, from: data),
                  (1...65535).contains(registration.port) else { return nil }
            return (file, registration)
        }
    }

    /// The directory must belong to this user and be closed to others.
    func checkPrivate() throws {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        guard mode & 0o022 == 0, owner == geteuid() else {
            throw RotorError(.invalidInput, "the agents directory \(url.path.printable(limit: 200)) is writable by others or not this user's",
                             remedy: "chmod 700 it (rotation notices are off until then)")
        }
    }

    /// Whether the registering process still runs.
    static func isAlive(_ pid: Int32) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }
}
