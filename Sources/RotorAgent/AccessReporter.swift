import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RotorCore
import RotorHTTP
import ServiceLifecycle
import Synchronization

/// Reports this agent's reads to rotor's daemon (`POST /api/access`) every ten seconds and at exit:
/// per secret, reads answered and reads refused (access denied upstream, or outside the agent's
/// environments), with the consuming service, its environment and this host. The daemon keeps the
/// secrets' last reads and raises suspicious-access alerts. Reports carry ids and counts, never a
/// value. The report token (which can only report this service's reads, never use the daemon's
/// API) goes over HTTPS, or plain HTTP to a loopback address only.
public final class AccessReporter: Service, Sendable {
    struct Entry {
        var reads = 0
        var denied = 0
        var first: Date
        var last: Date
    }

    /// At most this many secrets are held between reports (a flood of distinct ids cannot grow memory).
    static let maximumEntries = 1000

    let endpoint: URL
    let token: String
    let service: String
    let environment: String
    let host: String
    let interval: Duration
    let logger: Logger
    private let pending = Mutex<[SecretID: Entry]>([:])
    /// A report the daemon did not confirm, sent again first, with its id (the daemon records it once).
    private let unsent = Mutex<(id: String, entries: [SecretID: Entry])?>(nil)

    /// - Parameter reader: `SERVICE@ENVIRONMENT`, the consuming service this agent serves.
    public init(daemon: URL, token: String, reader: String, logger: Logger, interval: Duration = .seconds(10)) throws {
        let parts = reader.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, (try? SecretID("/\(parts[1])/\(parts[0])/t/n")) != nil else {
            throw RotorError(.invalidParameter, "--service '\(reader.printable(limit: 80))' is not SERVICE@ENVIRONMENT (e.g. shop@prod)")
        }
        guard daemon.user == nil, daemon.password == nil, daemon.query == nil,
              let scheme = daemon.scheme, scheme == "https" || (scheme == "http" && OutboundURL.isLoopback(daemon.host ?? "")) else {
            throw RotorError(.invalidParameter, "--report-to must be https://HOST[:PORT], or http:// to a loopback address (no user, no query): the token must not cross the network in clear text")
        }
        guard !token.isEmpty else {
            throw RotorError(.invalidParameter, "--report-to needs this service's report token in ROTOR_REPORT_TOKEN (listed in the daemon's --report-tokens file)")
        }
        endpoint = daemon.appendingPathComponent("api/access")
        self.token = token
        (service, environment) = (parts[0], parts[1])
        host = ProcessInfo.processInfo.hostName
        self.interval = interval
        self.logger = logger
    }

    /// Counts one read of `secret`: answered, or refused.
    public func record(_ secret: SecretID, answered: Bool, at now: Date = Date()) {
        pending.withLock { pending in
            guard pending[secret] != nil || pending.count < Self.maximumEntries else { return }
            var entry = pending[secret] ?? Entry(first: now, last: now)
            if answered { entry.reads += 1 } else { entry.denied += 1 }
            entry.last = now
            pending[secret] = entry
        }
    }

    public func run() async throws {
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await report(http)
        }
        try? await http.shutdown()
    }

    /// Sends the unconfirmed report again, then what was counted since; a report that fails is
    /// kept, with its id, for the next time.
    func report(_ http: HTTPClient) async {
        if let retry = unsent.withLock({ $0 }) {
            guard await send(http, id: retry.id, retry.entries) else { return }
            unsent.withLock { $0 = nil }
        }
        let taken = pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        guard !taken.isEmpty else { return }
        let id = UUID().uuidString.lowercased()
        if !(await send(http, id: id, taken)) { unsent.withLock { $0 = (id, taken) } }
    }

    func send(_ http: HTTPClient, id: String, _ entries: [SecretID: Entry]) async -> Bool {
        let body: [String: Any] = [
            "id": id,
            "reader": ["service": service, "environment": environment, "host": host],
            "reads": entries.map { ["secret": $0.key.rawValue, "reads": $0.value.reads, "denied": $0.value.denied,
                                    "first": $0.value.first.timeIntervalSince1970, "last": $0.value.last.timeIntervalSince1970] as [String: Any] },
        ]
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(data: (try? JSONSerialization.data(withJSONObject: body)) ?? Data()))
        do {
            let response = try await http.execute(request, timeout: .seconds(5))
            let status = Int(response.status.code)
            if [400, 413, 422].contains(status) {
                // Refused for its content: sending it again cannot help. (401, 403 and the rest are
                // kept and sent again: a token the daemon lists only after its next restart, say.)
                logger.error("access report refused by the daemon; dropped", metadata: ["status": "\(status)"])
                return true
            }
            guard status == 200 else { throw RotorError(.remoteFailure, "the daemon answered HTTP \(status)") }
            return true
        } catch {
            logger.warning("access report not delivered; sent again next time", metadata: ["error": "\((error as? RotorError)?.summary ?? "\(type(of: error))")"])
            return false
        }
    }
}
