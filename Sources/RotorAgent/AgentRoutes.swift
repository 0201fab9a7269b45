import Foundation
import HTTPTypes
import Hummingbird
import Prometheus
import RotorCore
import RotorSecrets
import Synchronization

/// AWS's Secrets Manager Agent's HTTP API, so that code written for it (or for the Lambda
/// extension's `/secretsmanager/get`) works unchanged: `GET /ping`, `GET /secretsmanager/get?secretId=…`,
/// `GET {path_prefix}{id}`, each with `versionId`, `versionStage` and `refreshNow`. Checks in AWS's
/// order: connection limit (429), `X-Forwarded-For` (400), the SSRF token except on `/ping` (403),
/// GET only (405), then the route (404 otherwise). rotor's own: `GET /metrics` (Prometheus, with the
/// token like every read) and `POST /rotor/v1/rotated` (a signed ``RotationNotice``: no token, the
/// signature stands for it).
public struct AgentRoutes: Sendable {
    let cache: SecretCache
    let token: SSRFToken
    let configuration: AgentConfiguration
    /// The environments this agent serves (`rotor agent --environment`); others are not found.
    let scope: EnvironmentScope
    /// Checks rotation notices; `nil` turns them off (the route answers 404).
    let notices: NoticeSigner?
    let metrics: PrometheusCollectorRegistry?
    /// Counts reads for the daemon's access reports, if the agent reports.
    let reporter: AccessReporter?

    public init(
        cache: SecretCache, token: SSRFToken, configuration: AgentConfiguration, scope: EnvironmentScope = .all,
        notices: NoticeSigner? = nil, metrics: PrometheusCollectorRegistry? = nil, reporter: AccessReporter? = nil
    ) {
        self.reporter = reporter
        self.cache = cache
        self.token = token
        self.configuration = configuration
        self.scope = scope
        self.notices = notices
        self.metrics = metrics
    }

    /// AWS's limit on a SecretId (a name or an ARN).
    static let maximumIDLength = 2048

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.middlewares.add(AgentGuard(token: token, headers: configuration.ssrfHeaders, maxConnections: configuration.maxConnections))
        router.get("/ping") { _, _ in Self.text("healthy", .ok) }
        if let metrics {
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.emitToString())))
            }
        }
        if let notices {
            router.post(RouterPath(RotationNotice.path)) { request, _ in await rotated(request, signer: notices) }
        }
        router.get("/secretsmanager/get") { request, _ in
            await read(request, id: request.uri.queryParameters.get("secretId").map(Self.rotorID), allowed: ["secretId"], missing: "missing parameter secretId")
        }
        let prefix = configuration.pathPrefix.hasSuffix("/") ? configuration.pathPrefix : configuration.pathPrefix + "/"
        router.get(RouterPath(prefix)) { _, _ in Self.text("missing secret ID", .badRequest) }
        router.get("\(prefix)**") { request, _ in
            let id = String(request.uri.path.dropFirst(prefix.count)).removingPercentEncoding ?? ""
            return await read(request, id: Self.rotorID(id), allowed: [], missing: "missing secret ID")
        }
        return router
    }

    static let parameters: Set<String> = ["versionId", "versionStage", "refreshNow"]

    /// rotor's ids start with '/': `prod/shop/api-key/k` (as `/v1/prod/…` gives it) names `/prod/shop/api-key/k`.
    static func rotorID(_ id: String) -> String { id.isEmpty || id.hasPrefix("/") || id.hasPrefix("arn:") ? id : "/" + id }

    func read(_ request: Request, id: String?, allowed: Set<String>, missing: String) async -> Response {
        let query = request.uri.queryParameters
        var seen: Set<String> = []
        for (name, _) in query {
            guard Self.parameters.contains(String(name)) || allowed.contains(String(name)) else {
                return Self.text("unknown parameter: \(String(name).printable(limit: 64))", .badRequest)
            }
            guard seen.insert(String(name)).inserted else { return Self.text("repeated parameter: \(name)", .badRequest) }
        }
        guard let id, !id.isEmpty else { return Self.text(missing, .badRequest) }
        guard id.utf8.count <= Self.maximumIDLength else { return Self.text("secret ID longer than \(Self.maximumIDLength) bytes", .badRequest) }
        // Outside the agent's environments: answered as not found, without asking the store.
        if let parsed = try? SecretID(nameOrARN: id), !scope.contains(parsed) {
            reporter?.record(parsed, answered: false)
            return Self.notFound(id)
        }
        var refreshNow = false
        if let raw = query.get("refreshNow") {
            switch raw.lowercased() {
            case "true", "1": refreshNow = true
            case "false", "0": refreshNow = false
            default: return Self.text("invalid refreshNow value", .badRequest)
            }
        }
        do {
            let stage = try query.get("versionStage").map { label throws(RotorError) in try StagingLabel(label) }
            let key = SecretCache.Key(secretID: id, versionID: query.get("versionId").map { VersionID($0) }, stage: stage)
            let value = try await cache.value(key, refreshNow: refreshNow)
            guard scope.contains(value.secret) else { return Self.notFound(id) }
            reporter?.record(value.secret, answered: true)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: AgentResponse.encoded(value)))
        } catch {
            if let reporter, let code = (error as? RotorError)?.code, code == .accessDenied || code == .authenticationFailed,
               let secret = try? SecretID(nameOrARN: id) {
                reporter.record(secret, answered: false)
            }
            let (status, type, message) = AgentResponse.failure(error)
            return Self.json(["__type": type, "message": message], status)
        }
    }

    /// A signed rotation notice: the secret's entries are dropped (204); a bad or old signature is
    /// 403. Its signature header and length are checked before the body is read, and the body must
    /// arrive within two seconds: a client without rotor's key cannot hold a connection open.
    func rotated(_ request: Request, signer: NoticeSigner) async -> Response {
        let header = request.headers[HTTPField.Name(NoticeSigner.header)!]
        guard signer.isTimely(header, now: Date()) else { return Self.text("Bad Signature", .forbidden) }
        guard let length = request.headers[.contentLength].flatMap(Int.init), length <= RotationNotice.maximumBodySize else {
            return Self.text("Body too large", .contentTooLarge)
        }
        guard let buffer = try? await Self.collect(request, upTo: length, within: .seconds(2)) else { return Self.text("Body too slow", .requestTimeout) }
        let body = [UInt8](buffer: buffer)
        guard signer.verify(header, body: body, now: Date()) else { return Self.text("Bad Signature", .forbidden) }
        guard let notice = try? JSONDecoder().decode(RotationNotice.self, from: Data(body)), let secret = try? SecretID(nameOrARN: notice.secretId) else {
            return Self.text("Bad Notice", .badRequest)
        }
        await cache.invalidate(secret: secret)
        return Response(status: .noContent)
    }

    /// The request's body, or an error once `deadline` has passed.
    static func collect(_ request: Request, upTo limit: Int, within deadline: Duration) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await request.body.collect(upTo: limit) }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let body = first else { throw HTTPError(.requestTimeout) }
            return body
        }
    }

    static func notFound(_ id: String) -> Response {
        json(["__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret \(id.printable(limit: 200))"], .badRequest)
    }

    static func text(_ body: String, _ status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func json(_ object: [String: Any], _ status: HTTPResponse.Status) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Connection limit, `X-Forwarded-For`, the SSRF token and the method, before any route runs.
struct AgentGuard: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: SSRFToken
    let headers: [String]
    let maxConnections: Int
    let inFlight = InFlight()
    /// Notices have a small budget of their own: they can never starve reads.
    static let noticeSlots = 4

    final class InFlight: Sendable {
        let count = Atomic<Int>(0)
        let notices = Atomic<Int>(0)
    }

    /// `localhost`, `127.0.0.1` or `[::1]`, with any port (or no Host at all, as HTTP/1.0 allows).
    static func isLoopbackHost(_ authority: String?) -> Bool {
        guard let authority, !authority.isEmpty else { return true }
        var host = Substring(authority)
        if host.hasPrefix("[") { host = host.dropFirst().prefix { $0 != "]" } } else if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        return ["localhost", "127.0.0.1", "::1"].contains(host.lowercased())
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let ping = request.uri.path == "/ping"
        // A rotation notice carries its own signature instead of the token (rotor does not hold the agent's token).
        let notice = request.uri.path == RotationNotice.path && request.method == .post
        // `/ping` gets two slots beyond the limit, so a health check answers under load; notices count apart.
        let running = notice ? inFlight.notices.wrappingAdd(1, ordering: .relaxed).newValue : inFlight.count.wrappingAdd(1, ordering: .relaxed).newValue
        defer { if notice { inFlight.notices.wrappingSubtract(1, ordering: .relaxed) } else { inFlight.count.wrappingSubtract(1, ordering: .relaxed) } }
        guard running <= (notice ? Self.noticeSlots : maxConnections + (ping ? 2 : 0)) else { return AgentRoutes.text("Connection limit exceeded", .tooManyRequests) }
        if !ping {
            if request.headers[HTTPField.Name("X-Forwarded-For")!] != nil { return AgentRoutes.text("Forwarded", .badRequest) }
            // A page that rebinds a DNS name to 127.0.0.1 sends its own Host: only loopback names are answered.
            guard Self.isLoopbackHost(request.head.authority) else { return AgentRoutes.text("Bad Host", .badRequest) }
            let presented = headers.compactMap { HTTPField.Name($0).flatMap { request.headers[$0] } }
            guard notice || presented.contains(where: token.accepts) else { return AgentRoutes.text("Bad Token", .forbidden) }
        }
        guard request.method == .get || notice else { return AgentRoutes.text("Not allowed", .methodNotAllowed) }
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return AgentRoutes.text("Not found", .notFound)
        }
    }
}

/// GetSecretValue's JSON as AWS's agent writes it, and its error bodies.
enum AgentResponse {
    /// GetSecretValue's JSON as AWS's agent writes it (`ARN` null, `CreatedDate` a string of epoch
    /// seconds), written directly with keys sorted: the hot path of every read, several times
    /// cheaper than JSONSerialization.
    static func encoded(_ value: SecretVersionValue) -> ByteBuffer {
        var out = ByteBuffer()
        out.reserveCapacity(value.value.byteCount + 256)
        out.writeStaticString("{\"ARN\":null,\"CreatedDate\":")
        string(String(format: "%.3f", value.createdAt.timeIntervalSince1970), into: &out)
        out.writeStaticString(",\"Name\":")
        string(value.secret.rawValue, into: &out)
        if let text = value.value.exposedString {
            out.writeStaticString(",\"SecretString\":")
            string(text, into: &out)
        } else {
            out.writeStaticString(",\"SecretBinary\":")
            string(Data(value.value.exposedBytes).base64EncodedString(), into: &out)
        }
        out.writeStaticString(",\"VersionId\":")
        string(value.versionID.rawValue, into: &out)
        out.writeStaticString(",\"VersionStages\":[")
        for (index, stage) in value.stages.enumerated() {
            if index > 0 { out.writeStaticString(",") }
            string(stage.rawValue, into: &out)
        }
        out.writeStaticString("]}")
        return out
    }

    /// A JSON string literal: `"`, `\\` and control characters escaped (RFC 8259), the rest as UTF-8.
    static func string(_ text: String, into out: inout ByteBuffer) {
        out.writeStaticString("\"")
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.writeStaticString("\\\"")
            case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
            case 0x0A: out.writeStaticString("\\n")
            case 0x0D: out.writeStaticString("\\r")
            case 0x09: out.writeStaticString("\\t")
            case 0..<0x20:
                out.writeStaticString("\\u00")
                out.writeInteger(hexDigit(byte >> 4))
                out.writeInteger(hexDigit(byte & 0x0F))
            default: out.writeInteger(byte)
            }
        }
        out.writeStaticString("\"")
    }

    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? nibble + 48 : nibble + 87 }

    /// The status, `__type` and message of a failure (never a value: rotor's errors carry none).
    static func failure(_ error: any Error) -> (HTTPResponse.Status, String, String) {
        if let cache = error as? SecretCacheError {
            switch cache {
            case .stale: return (.serviceUnavailable, "StaleValue", cache.description)
            case .circuitOpen: return (.serviceUnavailable, "CircuitOpen", cache.description)
            // As AWS's agent answers its SDK's timeout.
            case .timeout: return (.gatewayTimeout, "TimeoutError", "Timeout")
            }
        }
        let wrapped = RotorError.wrapping(error)
        switch wrapped.code {
        case .secretNotFound, .notManaged, .versionNotFound: return (.badRequest, "ResourceNotFoundException", wrapped.summary)
        case .accessDenied, .authenticationFailed: return (.badRequest, "AccessDeniedException", wrapped.summary)
        case .invalidSecretID, .invalidParameter: return (.badRequest, "InvalidParameterException", wrapped.summary)
        default: return wrapped.isTransient ? (.serviceUnavailable, "ServiceUnavailable", wrapped.summary) : (.internalServerError, "InternalFailure", wrapped.summary)
        }
    }
}
