import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RotorCore

/// Tells every agent registered on this host that a rotation finished, so each drops the old
/// value within a second instead of waiting out its TTL. One signed POST per agent, all at once,
/// each bounded to one second, never following a redirect; a failure is logged and the rotation's
/// outcome stands (the agent's TTL remains the backstop).
public struct AgentNotifier: Sendable {
    let directory: AgentDirectory
    /// `nil`: ``client``, made on first use (a command that finds no agent never starts its event loops).
    let http: HTTPClient?
    let logger: Logger

    /// No redirects (a notice goes to 127.0.0.1:port and nowhere else), a short connect timeout.
    public static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .milliseconds(500), read: .seconds(1))))

    public init(directory: AgentDirectory, http: HTTPClient? = nil, logger: Logger) {
        self.directory = directory
        self.http = http
        self.logger = logger
    }

    /// Notifies every registered agent; returns how many accepted.
    @discardableResult
    public func notify(_ secret: SecretID, version: VersionID) async -> Int {
        let agents = directory.registrations()
        guard !agents.isEmpty, let body = try? JSONEncoder().encode(RotationNotice(secretId: secret.rawValue, versionId: version.rawValue)) else { return 0 }
        return await withTaskGroup(of: Bool.self) { group in
            for agent in agents {
                group.addTask { await send([UInt8](body), to: agent, secret: secret) }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }

    func send(_ body: [UInt8], to agent: AgentDirectory.Registration, secret: SecretID) async -> Bool {
        guard let keyBytes = Data(base64Encoded: agent.key), keyBytes.count == 32 else { return false }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(agent.port)\(RotationNotice.path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: NoticeSigner.header, value: NoticeSigner(key: .init(data: keyBytes)).signature(body: body, at: Date()))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await (http ?? Self.client).execute(request, timeout: .seconds(1))
            guard response.status.code == 204 else {
                logger.notice("an agent refused a rotation notice", metadata: ["secret": "\(secret)", "port": "\(agent.port)", "status": "\(response.status.code)"])
                return false
            }
            return true
        } catch {
            logger.notice("an agent did not take a rotation notice; it sees the new value when its TTL ends",
                          metadata: ["secret": "\(secret)", "port": "\(agent.port)", "error": "\(type(of: error))"])
            return false
        }
    }
}
