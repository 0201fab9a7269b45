import AsyncHTTPClient
import Foundation
import NIOCore
import Logging
import RotorCore
import ServiceLifecycle

/// The agent's settings when it runs as a Lambda extension, from the variables AWS's Parameters
/// and Secrets extension reads: `PARAMETERS_SECRETS_EXTENSION_HTTP_PORT` (2773),
/// `PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED` (true), `PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE`
/// (1000; 0 turns the cache off), `SECRETS_MANAGER_TTL` (300 s, larger values clamped to 300 as AWS's
/// does), `PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL`, `PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS`
/// and `SECRETS_MANAGER_TIMEOUT_MILLIS` (checked; 0 means none). The SSRF token is `AWS_SESSION_TOKEN`.
public struct LambdaExtensionSettings: Sendable, Equatable {
    public var agent = AgentConfiguration()
    /// `SECRETS_MANAGER_TTL` was above 300 and was clamped.
    public var ttlClamped = false
    public var upstreamTimeout: Duration?

    public static func fromEnvironment(_ env: [String: String]) throws(RotorError) -> LambdaExtensionSettings {
        var settings = LambdaExtensionSettings()
        settings.agent.ssrfEnvironmentVariables = ["AWS_SESSION_TOKEN"]
        // 0 takes any free port (rotor's tests); AWS's range is 1 to 65535.
        settings.agent.httpPort = try number(env, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 0...65535) ?? 2773
        let enabled = try flag(env, "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED") ?? true
        let size = try number(env, "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", 0...1000) ?? 1000
        settings.agent.cacheSize = enabled ? size : 0
        let ttl = try number(env, "SECRETS_MANAGER_TTL", 0...Int(Int32.max)) ?? 300
        settings.ttlClamped = ttl > 300
        settings.agent.ttlSeconds = min(ttl, 300)
        if ttl == 0 { settings.agent.cacheSize = 0 }
        _ = try number(env, "PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", 1...1000)
        if let millis = try number(env, "SECRETS_MANAGER_TIMEOUT_MILLIS", 0...Int(Int32.max)), millis > 0 { settings.upstreamTimeout = .milliseconds(millis) }
        if let level = env["PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL"] {
            guard let parsed = AgentConfiguration.LogLevel(rawValue: level.uppercased()) else {
                throw invalid("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "debug, info, warn, error or none")
            }
            settings.agent.logLevel = parsed
        }
        return settings
    }

    static func number(_ env: [String: String], _ name: String, _ range: ClosedRange<Int>) throws(RotorError) -> Int? {
        guard let raw = env[name], !raw.isEmpty else { return nil }
        guard let value = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw invalid(name, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func flag(_ env: [String: String], _ name: String) throws(RotorError) -> Bool? {
        guard let raw = env[name], !raw.isEmpty else { return nil }
        switch raw.lowercased() {
        case "true": return true
        case "false": return false
        default: throw invalid(name, "true or false")
        }
    }

    static func invalid(_ name: String, _ expected: String) -> RotorError {
        RotorError(.invalidInput, "\(name) must be \(expected)", remedy: "fix the function's environment variable; the extension did not start")
    }
}

/// Lambda's Extensions API (`http://$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension`): register for
/// INVOKE and SHUTDOWN, wait for events (a blocking call with no client timeout), report an
/// initialisation or exit error.
public struct ExtensionsAPIClient: Sendable {
    public enum Event: Sendable, Equatable {
        case invoke(requestID: String)
        case shutdown(reason: String)
    }

    let base: String
    let http: HTTPClient

    /// No read timeout (`event/next` blocks for as long as the function is idle or frozen, and AWS
    /// asks for none), no redirects.
    public static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2), read: nil)))

    public init(runtimeAPI: String, http: HTTPClient = ExtensionsAPIClient.client) {
        base = "http://\(runtimeAPI)/2020-01-01/extension"
        self.http = http
    }

    /// Registers under `name` (the extension's file name); returns the identifier later calls carry.
    public func register(name: String) async throws -> String {
        var request = HTTPClientRequest(url: "\(base)/register")
        request.method = .POST
        request.headers.add(name: "Lambda-Extension-Name", value: name)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"events":["INVOKE","SHUTDOWN"]}"#))
        let response = try await http.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 16)
        guard response.status.code == 200, let identifier = response.headers.first(name: "Lambda-Extension-Identifier"), !identifier.isEmpty else {
            throw RotorError(.remoteFailure, "the Extensions API refused the registration (HTTP \(response.status.code))",
                             remedy: "check the layer's layout (extensions/rotor-agent) and the function's extension count (at most 10)")
        }
        return identifier
    }

    /// Waits for the next event; blocks until Lambda sends one (no client timeout, as AWS asks).
    public func next(identifier: String) async throws -> Event {
        var request = HTTPClientRequest(url: "\(base)/event/next")
        request.headers.add(name: "Lambda-Extension-Identifier", value: identifier)
        let response = try await http.execute(request, deadline: .distantFuture)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200,
              let json = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
              let type = json["eventType"] as? String else {
            throw RotorError(.remoteFailure, "the Extensions API answered HTTP \(response.status.code) without an event")
        }
        switch type {
        case "SHUTDOWN": return .shutdown(reason: json["shutdownReason"] as? String ?? "unknown")
        default: return .invoke(requestID: json["requestId"] as? String ?? "")
        }
    }

    /// Reports a failure (`init` before the first `next`, `exit` after); Lambda then restarts the environment.
    public func reportError(_ phase: String, identifier: String, type: String, message: String) async {
        var request = HTTPClientRequest(url: "\(base)/\(phase)/error")
        request.method = .POST
        request.headers.add(name: "Lambda-Extension-Identifier", value: identifier)
        request.headers.add(name: "Lambda-Extension-Function-Error-Type", value: type)
        let body = (try? JSONSerialization.data(withJSONObject: ["errorType": type, "errorMessage": message, "stackTrace": [String]()])) ?? Data()
        request.body = .bytes(ByteBuffer(bytes: body))
        _ = try? await http.execute(request, timeout: .seconds(5))
    }
}

/// Runs the agent's side of the extension lifecycle once its server listens: register, then wait
/// for events until SHUTDOWN, which ends the service (and, with it, the agent's server).
public struct ExtensionLoop: Service {
    let client: ExtensionsAPIClient
    let name: String
    let listening: AsyncStream<Int>
    let logger: Logger

    public init(client: ExtensionsAPIClient, name: String, listening: AsyncStream<Int>, logger: Logger) {
        self.client = client
        self.name = name
        self.listening = listening
        self.logger = logger
    }

    public func run() async throws {
        // Listen first: Lambda starts the function's init right after the registration, and that
        // code may already read a secret.
        var ports = listening.makeAsyncIterator()
        guard await ports.next() != nil else { return }
        let identifier = try await client.register(name: name)
        logger.info("registered as a Lambda extension", metadata: ["name": "\(name)"])
        var failures = 0
        while !Task.isShuttingDownGracefully {
            let event: ExtensionsAPIClient.Event
            do {
                event = try await cancelWhenGracefulShutdown { try await client.next(identifier: identifier) }
                failures = 0
            } catch where Task.isShuttingDownGracefully || Task.isCancelled {
                return
            } catch {
                // A dropped connection (a thaw, a hiccup) is retried; one that keeps failing is reported.
                failures += 1
                guard failures < 5 else {
                    await client.reportError("exit", identifier: identifier, type: "Extension.NextFailed", message: "\(error)")
                    throw error
                }
                logger.notice("the Extensions API's next event failed; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(100 * failures))
                continue
            }
            if case .shutdown(let reason) = event {
                logger.info("Lambda is shutting the environment down", metadata: ["reason": "\(reason)"])
                return
            }
        }
    }
}
