import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RotorCore
import ServiceLifecycle
import Synchronization

/// Reports this agent's reads to rotor's daemon (`POST /api/access`) every ten seconds and at exit:
/// per secret, reads answered and reads refused (access denied upstream, or outside the agent's
/// environments), with the consuming service, its environment and this host. The daemon keeps the
/// secrets' last reads and raises suspicious-access alerts. Reports carry ids and counts, never a
/// value; the daemon's token goes over HTTPS, or plain HTTP to a loopback address only.
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

    /// - Parameter reader: `SERVICE@ENVIRONMENT`, the consuming service this agent serves.
    public init(daemon: URL, token: String, reader: String, logger: Logger, interval: Duration = .seconds(10)) throws {
        let parts = reader.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, (try? SecretID("/\(parts[1])/\(parts[0])/t/n")) != nil else {
            throw RotorError(.invalidParameter, "--service '\(reader.printable(limit: 80))' is not SERVICE@ENVIRONMENT (e.g. shop@prod)")
        }
        guard let scheme = daemon.scheme, scheme == "https" || (scheme == "http" && Self.isLoopback(daemon.host ?? "")) else {
            throw RotorError(.invalidParameter, "--report-to must be https://, or http:// to a loopback address: the daemon's token must not cross the network in clear text")
        }
        guard !token.isEmpty else { throw RotorError(.invalidParameter, "--report-to needs the daemon's token in ROTOR_API_TOKEN") }
        endpoint = daemon.appendingPathComponent("api/access")
        self.token = token
        (service, environment) = (parts[0], parts[1])
        host = ProcessInfo.processInfo.hostName
        self.interval = interval
        self.logger = logger
    }

    static func isLoopback(_ host: String) -> Bool { host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.") }

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

    /// Sends what was counted since the last report; on failure it is kept for the next one.
    func report(_ http: HTTPClient) async {
        let taken = pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        guard !taken.isEmpty else { return }
        let body: [String: Any] = [
            "reader": ["service": service, "environment": environment, "host": host],
            "reads": taken.map { ["secret": $0.key.rawValue, "reads": $0.value.reads, "denied": $0.value.denied,
                                  "first": $0.value.first.timeIntervalSince1970, "last": $0.value.last.timeIntervalSince1970] as [String: Any] },
        ]
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(data: (try? JSONSerialization.data(withJSONObject: body)) ?? Data()))
        do {
            let response = try await http.execute(request, timeout: .seconds(5))
            guard response.status.code == 200 else { throw RotorError(.remoteFailure, "the daemon answered HTTP \(response.status.code)") }
        } catch {
            logger.warning("access report not delivered; kept for the next one", metadata: ["error": "\((error as? RotorError)?.summary ?? "\(type(of: error))")"])
            pending.withLock { pending in
                for (secret, entry) in taken where pending[secret] != nil || pending.count < Self.maximumEntries {
                    var merged = pending[secret] ?? Entry(first: entry.first, last: entry.last)
                    merged.reads += entry.reads
                    merged.denied += entry.denied
                    merged.first = min(merged.first, entry.first)
                    merged.last = max(merged.last, entry.last)
                    pending[secret] = merged
                }
            }
        }
    }
}
