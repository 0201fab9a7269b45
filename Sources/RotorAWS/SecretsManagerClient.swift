import AsyncHTTPClient
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

/// A small client for the Secrets Manager JSON API (awsJson1.1 over AsyncHTTPClient, SigV4-signed),
/// with retries on throttling, 5xx, timeouts and connection errors, a per-request timeout and a
/// client-side rate limit on quota writes.
public final class SecretsManagerClient: Sendable {
    public let endpoint: URL
    public let region: String
    let credentials: any AWSCredentialProvider
    let http: HTTPClient
    let signer: SigV4Signer
    let retry: AWSRetryPolicy
    let timeout: Duration
    let writeLimiter: RateLimiter
    let clock: any RotorClock
    let jitter: @Sendable () -> Double
    let logger: Logger
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
        endpoint: URL, region: String, credentials: any AWSCredentialProvider, http: HTTPClient = .withoutRedirects,
        retry: AWSRetryPolicy = AWSRetryPolicy(), timeout: Duration = .seconds(8), writesPerSecond: Double = 50,
        clock: any RotorClock = SystemClock(), jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger = Logger(label: "rotor.aws")
    ) {
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.http = http
        signer = SigV4Signer(region: region, service: "secretsmanager")
        self.retry = retry
        self.timeout = timeout
        writeLimiter = RateLimiter(perSecond: writesPerSecond, clock: clock)
        self.clock = clock
        self.jitter = jitter
        self.logger = logger
    }

    /// Sends one operation with a JSON body, retrying what is retryable. Throws ``RotorError``.
    public func send(_ operation: SecretsManagerOperation, body: Data, secret: SecretID? = nil) async throws -> SecretsManagerResponse {
        var attempt = 1
        while true {
            if operation.isQuotaWrite { try await writeLimiter.acquire() }
            do {
                return try await sendOnce(operation, body: body, secret: secret)
            } catch let error as RotorError where error.isTransient && attempt < retry.maxAttempts {
                let delay = retry.delay(afterAttempt: attempt, unit: jitter())
                logger.notice("retrying Secrets Manager call", metadata: [
                    "operation": "\(operation.rawValue)", "attempt": "\(attempt)", "delay-ms": "\(Int(delay.seconds * 1000))", "error": "\(error.summary)",
                ])
                try await clock.sleep(for: delay)
                attempt += 1
            }
        }
    }

    func sendOnce(_ operation: SecretsManagerOperation, body: Data, secret: SecretID?) async throws -> SecretsManagerResponse {
        let request = try await signedRequest(operation, body: body)
        requestCounter.increment(operation.rawValue)
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        } catch let error as RotorError {
            throw error
        } catch {
            throw RotorError(
                .transient, "Secrets Manager \(operation.rawValue) did not complete: \(Self.describe(error))", secret: secret,
                remedy: "check that \(endpoint.absoluteString) is reachable", isTransient: true)
        }
        let requestID = response.headers.first(name: "x-amzn-RequestId")
        let data = Data(bytes.readableBytesView)
        if (300..<400).contains(Int(response.status.code)) {
            throw RotorError(
                .remoteFailure, "Secrets Manager \(operation.rawValue) was answered with a redirect (HTTP \(response.status.code)); rotor never sends signed requests elsewhere",
                secret: secret, remedy: "point --endpoint-url (or AWS_ENDPOINT_URL_SECRETS_MANAGER) at the service itself, not at something that redirects")
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            let parsed = AWSErrorResponse.parse(
                status: Int(response.status.code), headerType: response.headers.first(name: "X-Amzn-Errortype"), body: Array(data), requestID: requestID)
            throw parsed.rotorError(operation: operation.rawValue, secret: secret)
        }
        return SecretsManagerResponse(body: data, requestID: requestID)
    }

    func signedRequest(_ operation: SecretsManagerOperation, body: Data) async throws -> HTTPClientRequest {
        let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        let path = endpoint.path.isEmpty ? "/" : endpoint.path
        let unsigned = SigV4Signer.Request(method: "POST", path: path, headers: [
            ("Content-Type", "application/x-amz-json-1.1"), ("Host", host), ("X-Amz-Target", "secretsmanager.\(operation.rawValue)"),
        ], body: Array(body))
        let signed = signer.sign(unsigned, credentials: try await credentials.credentials(), date: clock.now())
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// A transport error's description, without request contents.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
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
