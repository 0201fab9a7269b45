import AsyncHTTPClient
import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RotorCore

/// A Secrets Manager operation and whether it counts against the write quota.
public enum SecretsManagerOperation: String, Sendable, CaseIterable {
    case createSecret = "CreateSecret"
    case describeSecret = "DescribeSecret"
    case getSecretValue = "GetSecretValue"
    case putSecretValue = "PutSecretValue"
    case updateSecretVersionStage = "UpdateSecretVersionStage"
    case getRandomPassword = "GetRandomPassword"
    case listSecrets = "ListSecrets"
    case listSecretVersionIds = "ListSecretVersionIds"
    case deleteSecret = "DeleteSecret"
    case rotateSecret = "RotateSecret"
    case tagResource = "TagResource"

    /// Operations in the combined 50 TPS write quota.
    var isQuotaWrite: Bool { self == .putSecretValue || self == .updateSecretVersionStage }
}

/// A successful response: the JSON body and the AWS request id.
public struct SecretsManagerResponse: Sendable {
    public let body: Data
    public let requestID: String?

    /// The body as a JSON object (an empty body is `{}`).
    public func object() -> [String: Any] {
        guard !body.isEmpty else { return [:] }
        return (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
    }
}

/// Retry settings of the client: capped exponential backoff with full jitter.
public struct AWSRetryPolicy: Sendable {
    public var maxAttempts: Int
    public var base: Duration
    public var cap: Duration
    public init(maxAttempts: Int = 5, base: Duration = .milliseconds(100), cap: Duration = .seconds(5)) {
        self.maxAttempts = max(1, maxAttempts)
        self.base = base
        self.cap = cap
    }

    /// Capped exponential with full jitter (uniform in `[0, min(cap, base·2^(attempt-1))]`), as AWS recommends.
    public var backoff: Backoff { Backoff(initial: base, maximum: cap, jitter: .full) }

    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration { backoff.delay(afterAttempt: attempt, unit: unit) }
}

/// An AWS service spoken with the JSON 1.1 protocol: how its requests are signed and named.
public struct AWSJSONService: Sendable {
    /// The name in messages, e.g. `Secrets Manager`.
    public let name: String
    /// The SigV4 service name of the credential scope.
    public let signingName: String
    /// What `X-Amz-Target` puts before the operation's name.
    public let targetPrefix: String

    public static let secretsManager = AWSJSONService(name: "Secrets Manager", signingName: "secretsmanager", targetPrefix: "secretsmanager")
    public static let cognitoIdentityProvider = AWSJSONService(
        name: "Cognito", signingName: "cognito-idp", targetPrefix: "AWSCognitoIdentityProviderService")
    public static let cloudWatchLogs = AWSJSONService(name: "CloudWatch Logs", signingName: "logs", targetPrefix: "Logs_20140328")
    public static let eventBridge = AWSJSONService(name: "EventBridge", signingName: "events", targetPrefix: "AWSEvents")
    /// SNS speaks the Query protocol (``AWSJSONClient/sendQuery(action:parameters:)``), not JSON.
    public static let sns = AWSJSONService(name: "SNS", signingName: "sns", targetPrefix: "")
}

/// Secrets Manager's client: the one AWS JSON client, for the service rotor stores secrets in.
public typealias SecretsManagerClient = AWSJSONClient

/// rotor's one client for AWS JSON 1.1 APIs (Secrets Manager, Cognito) over AsyncHTTPClient,
/// SigV4-signed, with retries on throttling, 5xx, timeouts and connection errors, a per-request
/// timeout and a client-side rate limit on Secrets Manager's quota writes.
public final class AWSJSONClient: Sendable {
    public let service: AWSJSONService
    public let endpoint: URL
    public let region: String
    let credentials: any AWSCredentialProvider
    let http: HTTPClient
    let signer: SigV4Signer
    let retry: AWSRetryPolicy
    let timeout: Duration
    /// Secrets Manager's write quota: this process's own bucket, or one shared by every daemon of a shared state.
    let writeLimiter: any WriteQuota
    let clock: any RotorClock
    let jitter: @Sendable () -> Double
    let logger: Logger
    /// Where each call's outcome is counted (``AWSCallMetrics``), if anywhere.
    let metrics: AWSCallMetrics?
    /// Counts every HTTP request sent, retries included (for benchmarks and tests).
    public let requestCounter = RequestCounter()

    /// The longest one call can take with its retries: every attempt timing out, with the longest
    /// waits between them. These retries nest inside the engine's attempts of a step, and a step
    /// attempt is cancelled at ``EngineConfiguration/stepTimeout``; the defaults keep one call
    /// (8 s × 5 attempts + 1.5 s of waits = 41.5 s) inside the default step timeout (48 s).
    public var worstCaseCallDuration: Duration {
        timeout * retry.maxAttempts + retry.backoff.worstCaseWait(attempts: retry.maxAttempts)
    }

    public init(
        service: AWSJSONService = .secretsManager, endpoint: URL, region: String, credentials: any AWSCredentialProvider, http: HTTPClient = .withoutRedirects,
        retry: AWSRetryPolicy = AWSRetryPolicy(), timeout: Duration = .seconds(8), writesPerSecond: Double = 50, writeQuota: (any WriteQuota)? = nil,
        clock: any RotorClock = SystemClock(), jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger = Logger(label: "rotor.aws"), metrics: (any MetricsFactory)? = nil
    ) {
        self.service = service
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.http = http
        signer = SigV4Signer(region: region, service: service.signingName)
        self.retry = retry
        self.timeout = timeout
        writeLimiter = writeQuota ?? RateLimiter(perSecond: writesPerSecond, clock: clock)
        self.clock = clock
        self.jitter = jitter
        self.logger = logger
        self.metrics = metrics.map { AWSCallMetrics(factory: $0, service: service.signingName) }
    }

    /// Sends one Secrets Manager operation with a JSON body, retrying what is retryable. Throws ``RotorError``.
    public func send(_ operation: SecretsManagerOperation, body: Data, secret: SecretID? = nil) async throws -> SecretsManagerResponse {
        try await send(operation: operation.rawValue, body: body, secret: secret, quotaWrite: operation.isQuotaWrite)
    }

    /// Sends one operation of ``service`` with a JSON body, retrying what is retryable. Throws ``RotorError``;
    /// `explain` may turn the service's own error answers into errors that say more (never the
    /// retryable ones: throttling and server faults keep their transient errors).
    /// `retries: false` for an operation that is not idempotent (a repeated AddUserPoolClientSecret
    /// adds a second secret): its transient failure is the caller's to resolve. `query`: a form body
    /// for a Query-protocol service (see ``sendQuery(action:parameters:version:)``).
    public func send(
        operation: String, body: Data, secret: SecretID? = nil, quotaWrite: Bool = false, retries: Bool = true,
        explain: (@Sendable (AWSServiceFault) -> RotorError?)? = nil, query: Bool = false
    ) async throws -> SecretsManagerResponse {
        var attempt = 1
        while true {
            if quotaWrite { try await writeLimiter.acquire() }
            do {
                return try await sendOnce(operation, body: body, secret: secret, explain: explain, query: query)
            } catch let error as RotorError where error.isTransient && retries && attempt < retry.maxAttempts {
                let delay = retry.delay(afterAttempt: attempt, unit: jitter())
                logger.notice("retrying \(service.name) call", metadata: [
                    "operation": "\(operation)", "attempt": "\(attempt)", "delay-ms": "\(Int(delay.seconds * 1000))", "error": "\(error.summary)",
                ])
                try await clock.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// Sends one action of a Query-protocol service (SNS): form-encoded parameters, an XML answer,
    /// retried as ``send(operation:body:secret:quotaWrite:retries:explain:)`` is.
    public func sendQuery(action: String, parameters: [(String, String)], version: String) async throws -> SecretsManagerResponse {
        let form = ([("Action", action), ("Version", version)] + parameters)
            .map { "\(Self.formEncoded($0.0))=\(Self.formEncoded($0.1))" }.joined(separator: "&")
        return try await send(operation: action, body: Data(form.utf8), query: true)
    }

    /// `application/x-www-form-urlencoded` escaping: everything but unreserved characters, and a
    /// space as `+` (as HTML forms and Python's `urlencode` write it).
    static func formEncoded(_ text: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return (text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? "").replacingOccurrences(of: "%20", with: "+")
    }

    func sendOnce(
        _ operation: String, body: Data, secret: SecretID?, explain: (@Sendable (AWSServiceFault) -> RotorError?)? = nil, query: Bool = false
    ) async throws -> SecretsManagerResponse {
        let request = try await signedRequest(operation, body: body, query: query)
        requestCounter.increment(operation)
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        } catch let error as RotorError {
            metrics?.unreachable(operation)
            throw error
        } catch {
            metrics?.unreachable(operation)
            throw RotorError(
                .transient, "\(service.name) \(operation) did not complete: \(Self.describe(error))", secret: secret,
                remedy: "check that \(endpoint.absoluteString) is reachable", isTransient: true)
        }
        let requestID = response.headers.first(name: "x-amzn-RequestId")
        let data = Data(bytes.readableBytesView)
        if (300..<400).contains(Int(response.status.code)) {
            throw RotorError(
                .remoteFailure, "\(service.name) \(operation) was answered with a redirect (HTTP \(response.status.code)); rotor never sends signed requests elsewhere",
                secret: secret, remedy: "point the endpoint URL at the service itself, not at something that redirects")
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            let fault = AWSErrorResponse.parse(
                status: Int(response.status.code), headerType: response.headers.first(name: "X-Amzn-Errortype"), body: Array(data), requestID: requestID)
            metrics?.failed(operation, fault.type)
            if !fault.isRetryable, let explained = explain?(fault) { throw explained }
            throw fault.rotorError(operation: operation, secret: secret, service: service.name)
        }
        metrics?.succeeded(operation)
        return SecretsManagerResponse(body: data, requestID: requestID)
    }

    func signedRequest(_ operation: String, body: Data, query: Bool = false) async throws -> HTTPClientRequest {
        let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        let path = endpoint.path.isEmpty ? "/" : endpoint.path
        let headers = query
            ? [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Host", host)]
            : [("Content-Type", "application/x-amz-json-1.1"), ("Host", host), ("X-Amz-Target", "\(service.targetPrefix).\(operation)")]
        let unsigned = SigV4Signer.Request(method: "POST", path: path, headers: headers, body: Array(body))
        let signed = signer.sign(unsigned, credentials: try await credentials.credentials(), date: clock.now())
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// A transport error's description, without request contents.
    static func describe(_ error: any Error) -> String {
        // shortDescription: the full one may quote a refused header's value (a session token).
        if let error = error as? HTTPClientError { return error.shortDescription }
        return "\(type(of: error))"
    }
}

/// A thread-safe counter.
public final class RequestCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    public init() {}
    func increment(_ operation: String) { counts.withLock { $0[operation, default: 0] += 1 } }
    /// Requests sent (each retry counts), in all.
    public var value: Int { counts.withLock { $0.values.reduce(0, +) } }
    /// Requests sent, by API name.
    public var byOperation: [String: Int] { counts.withLock { $0 } }
    public func reset() { counts.withLock { $0 = [:] } }
}

import Synchronization

extension HTTPClient {
    /// For signed AWS requests and credential endpoints: a redirect is answered as an error, never
    /// followed, so a signature or a credential token never goes to another host.
    public static let withoutRedirects: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()
}
