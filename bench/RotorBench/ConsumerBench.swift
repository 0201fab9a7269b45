import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import RotorAgent
import RotorCore
import RotorSecrets
import Synchronization

/// The consumer side (issue 13's items 12-14):
/// - `consumers client N`: ns per in-process cache hit of `SecretsClient` (a decoded value), beside
///   the machine's own floor (a Mutex-guarded Dictionary look-up of the same key);
/// - `consumers serve`: an agent (AgentRoutes, as `rotor agent` serves them) on a free loopback port
///   with one secret, for wrk; prints `PORT TOKEN SECRET`, serves until killed;
/// - `consumers upstream`: upstream calls per 1,000 reads over ten minutes with TTL 300 across one
///   rotation, and the time until every read sees the new value, TTL-only against rotation notices.
enum ConsumerBench {
    static let id = try! SecretID("/prod/orders/api-key/vendor")

    static func run(arguments: [String]) async throws {
        switch arguments.first {
        case "client": try await clientHits(reads: arguments.dropFirst().first.flatMap(Int.init) ?? 5_000_000)
        case "serve": try await serve()
        case "upstream": try await upstream()
        case "notice": try await noticeLatency(rotations: arguments.dropFirst().first.flatMap(Int.init) ?? 50)
        default: print("usage: rotor-bench consumers client [N] | serve | upstream | notice [N]")
        }
    }

    // MARK: 12. In-process hits

    static func clientHits(reads: Int) async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: #"{"apiKey":"sk-bench","model":"m"}"#)))
        let client = SecretsClient(store: store)
        _ = try await client.decode(ServiceAPIKey.self, id.rawValue)
        _ = try await client.value(id.rawValue)
        var best = Double.infinity
        var typed = Double.infinity
        for _ in 0..<5 {
            var start = ContinuousClock.now
            for _ in 0..<reads { _ = try await client.value(id.rawValue) }
            best = min(best, (ContinuousClock.now - start).nanoseconds / Double(reads))
            start = ContinuousClock.now
            for _ in 0..<reads { _ = try await client.decode(ServiceAPIKey.self, id.rawValue) }
            typed = min(typed, (ContinuousClock.now - start).nanoseconds / Double(reads))
        }
        // The floor: the same key looked up in a Mutex-guarded Dictionary, no cache logic.
        let floor = Mutex<[String: Int]>([id.rawValue: 1])
        var floorBest = Double.infinity
        var sink = 0
        for _ in 0..<5 {
            let start = ContinuousClock.now
            for _ in 0..<reads { sink &+= floor.withLock { $0[id.rawValue] ?? 0 } }
            floorBest = min(floorBest, (ContinuousClock.now - start).nanoseconds / Double(reads))
        }
        print(String(format: "rotor-SecretsClient.value %10.1f %10.1f %d", best, floorBest, sink > 0 ? reads : 0))
        print(String(format: "rotor-SecretsClient.decode %10.1f %10.1f %d", typed, floorBest, sink > 0 ? reads : 0))
    }

    // MARK: 13. The agent under load

    static func serve() async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "sk-bench-value")))
        let tokenText = "bench-\(UUID().uuidString)"
        let token = try SSRFToken.resolve(variables: ["AWS_TOKEN"], environment: ["AWS_TOKEN": tokenText])
        var configuration = AgentConfiguration()
        configuration.maxConnections = 1000
        let routes = AgentRoutes(cache: SecretCache(store: store), token: token, configuration: configuration)
        var logger = Logger(label: "bench-agent")
        logger.logLevel = .error
        let app = Application(
            router: routes.router(), configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "rotor-agent"),
            onServerRunning: { channel in
                // Unbuffered, so the script reads the line while the server runs.
                FileHandle.standardOutput.write(Data("\(channel.localAddress?.port ?? 0) \(tokenText) \(id)\n".utf8))
            }, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    // MARK: 13-14. Upstream calls and staleness across a rotation

    /// A store that counts upstream calls.
    final class Counting: ForwardingSecretStore, @unchecked Sendable {
        let base: any SecretStore
        let calls = Mutex(0)
        init(_ base: any SecretStore) { self.base = base }
        func describeSecret(_ id: SecretID) async throws -> SecretDescription {
            calls.withLock { $0 += 1 }
            return try await base.describeSecret(id)
        }
        func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue {
            calls.withLock { $0 += 1 }
            return try await base.getSecretValue(id, selector)
        }
    }

    /// A clock the simulation moves.
    final class SimulatedClock: RotorClock, @unchecked Sendable {
        let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        func now() -> Date { time.withLock { $0 } }
        func sleep(for duration: Duration) async throws {}
        func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    static func upstream() async throws {
        print("mode                 reads  upstream calls  calls/1000 reads  stale after rotation (s)")
        for notices in [false, true] {
            let clock = SimulatedClock()
            let base = InMemorySecretStore(clock: clock)
            _ = try await base.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "one")))
            let store = Counting(base)
            let cache = SecretCache(store: store, clock: clock)
            // 1,000 reads over ten minutes (0.6 s apart); the rotation lands after 100 s.
            var rotatedAt: Date?
            var sawNewAt: Date?
            for read in 0..<1000 {
                if read == 167, rotatedAt == nil {
                    let version = VersionID(UUID().uuidString.lowercased())
                    try await base.putSecretValue(PutSecretValueInput(id: id, token: version, value: SecretValue(string: "two"), stages: [.pending]))
                    let current = try await base.describeSecret(id).holder(of: .current)!
                    try await base.updateSecretVersionStage(UpdateVersionStageInput(id: id, stage: .current, moveTo: version, removeFrom: current))
                    rotatedAt = clock.now()
                    if notices { await cache.invalidate(secret: id) }
                }
                let value = try await cache.value(SecretCache.Key(secretID: id.rawValue))
                if rotatedAt != nil, sawNewAt == nil, value.value.exposedString == "two" { sawNewAt = clock.now() }
                clock.advance(0.6)
            }
            let calls = store.calls.withLock { $0 }
            let stale = sawNewAt.flatMap { seen in rotatedAt.map { seen.timeIntervalSince($0) } } ?? .nan
            print(String(format: "%-19@  %5d  %14d  %16.1f  %24.1f", (notices ? "rotation notices" : "TTL 300 s only") as NSString, 1000, calls,
                         Double(calls), stale))
        }
    }
}

extension ConsumerBench {
    // MARK: 14. From a rotation's end to the new value through a real agent over HTTP

    /// An agent server registered in a private directory, and a notifier as rotor's CLI and daemon
    /// use it: for each rotation, the time from the notice's start until a read through the agent
    /// returns the new version (TTL 300 s).
    static func noticeLatency(rotations: Int) async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        let tokenText = "bench-\(UUID().uuidString)"
        let token = try SSRFToken.resolve(variables: ["AWS_TOKEN"], environment: ["AWS_TOKEN": tokenText])
        let signer = NoticeSigner.random()
        let routes = AgentRoutes(cache: SecretCache(store: store), token: token, configuration: AgentConfiguration(), notices: signer)
        let directory = AgentDirectory(url: FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-agents-\(UUID().uuidString)"))
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "bench-agent")
        logger.logLevel = .error
        let app = Application(
            router: routes.router(), configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { announce.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let server = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { return }
        let hold = try directory.register(port: port, signer: signer)
        defer { hold.release() }
        let notifier = AgentNotifier(directory: directory, logger: logger)
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/secretsmanager/get?secretId=\(id)")
        request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: tokenText)
        func version() async throws -> String {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 20)
            return ((try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?["VersionId"] as? String) ?? ""
        }
        var samples: [Double] = []
        for _ in 0..<rotations {
            _ = try await version() // cached
            let next = VersionID(UUID().uuidString.lowercased())
            try await store.putSecretValue(PutSecretValueInput(id: id, token: next, value: SecretValue(string: next.rawValue), stages: [.pending]))
            let current = try await store.describeSecret(id).holder(of: .current)!
            try await store.updateSecretVersionStage(UpdateVersionStageInput(id: id, stage: .current, moveTo: next, removeFrom: current))
            let start = ContinuousClock.now
            await notifier.notify(id, version: next)
            while try await version() != next.rawValue {}
            samples.append((ContinuousClock.now - start).nanoseconds / 1e6)
        }
        samples.sort()
        print(String(format: "rotation-notices %8.2f %8.2f %d", samples[samples.count / 2], samples[Int(Double(samples.count - 1) * 0.99)], rotations))
        server.cancel()
    }
}

extension Duration {
    var nanoseconds: Double { Double(components.seconds) * 1e9 + Double(components.attoseconds) / 1e9 }
}
