import Crypto
import Foundation
import Hummingbird
import RotorCore

/// The daemon's HTTP API: `/healthz`, `/metrics` (Prometheus text),
/// `/api/observability/secrets[/{id}]` (metadata, never values), all from rotor's own state (no
/// secret-store call, no audit row per read) and only for the daemon's environments, and
/// `/api/rotations` (batches, which read and rotate secrets; see ``addBatchRoutes(_:)``). With a token, every route but `/healthz`
/// needs `Authorization: Bearer <token>`.
public struct ObservabilityAPI: Sendable {
    let engine: RotationEngine
    let schedule: any SchedulingStore
    let metrics: RotorMetrics
    let scheduler: RotationScheduler
    let token: String?
    let batches: BatchCenter
    /// Why starting or stopping batches is refused even with the token (see ``Daemon/Options/batchAPIRefusal``).
    let batchAPIRefusal: String?
    /// Consumers' access reports and the secrets' last reads (when the state store keeps them).
    let access: AccessMonitor?
    /// The tokens agents report with, each bound to its reader.
    let reportTokens: ReportTokens
    /// Failed sign-ins of the status page, and requests with a wrong token, limited (ten a minute each).
    let logins = ObservabilityAPI.FailureLimiter()
    let wrongTokens = ObservabilityAPI.FailureLimiter()
    /// The status page's sessions (keyed by the token; unused without one).
    let session: StatusSession
    /// Whether the state answers (`/healthz`).
    let stateProbe: StateProbe
    var scope: EnvironmentScope { scheduler.configuration.scope }

    public init(
        engine: RotationEngine, schedule: any SchedulingStore, metrics: RotorMetrics, scheduler: RotationScheduler, token: String?, batches: BatchCenter? = nil,
        batchAPIRefusal: String? = nil, access: AccessMonitor? = nil, reportTokens: ReportTokens = ReportTokens()
    ) {
        self.access = access
        self.reportTokens = reportTokens
        session = StatusSession(token: token ?? UUID().uuidString)
        self.batchAPIRefusal = batchAPIRefusal
        self.batches = batches ?? BatchCenter(scheduler: scheduler, logger: scheduler.logger)
        self.engine = engine
        self.schedule = schedule
        stateProbe = StateProbe(schedule)
        self.metrics = metrics
        self.scheduler = scheduler
        self.token = token
    }

    /// The largest page `/api/observability/secrets` returns, and its default.
    public static let (maximumPage, defaultPage) = (1000, 100)

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        if let token { router.middlewares.add(BearerTokenMiddleware(token: token, session: session, clock: engine.clock, wrongTokens: wrongTokens)) }
        router.get("/healthz") { _, _ in
            let unreachable = await stateProbe.problem()
            let degraded = scheduler.degradedReason ?? unreachable
            return json([
                "status": degraded == nil ? "ok" : "degraded", "active": scheduler.isLeader, "problem": degraded.map { $0 as Any } ?? NSNull(),
                "state": unreachable == nil ? "reachable" : "unreachable",
            ])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: try await metricsText())))
        }
        router.get("/api/observability/secrets") { request, _ in
            try await secretsPage(request.uri.queryParameters)
        }
        router.get("/api/observability/secrets/**") { _, context in
            let raw = "/" + context.parameters.getCatchAll().joined(separator: "/")
            guard let id = try? SecretID(nameOrARN: raw), scope.contains(id), let secret = try await engine.state.managedSecret(id) else {
                return json(["error": "no managed secret \(raw.prefix(200))"], status: .notFound)
            }
            let history = try await engine.state.rotations(of: id, limit: 50)
            var item = summary(secret, try await schedule.scheduleEntry(id), try await access?.store.lastAccess(of: [id])[id])
            if let claims = schedule as? any ClaimingStore {
                item["claimedBy"] = try await claims.claims(in: .only(id.environment), now: engine.clock.now()).first { $0.secret == id }?.holder ?? NSNull()
            }
            item["currentVersion"] = history.first { $0.outcome == .succeeded }.map { $0.token.rawValue as Any } ?? NSNull()
            item["history"] = history.map(RecordJSON.rotation)
            return json(item)
        }
        router.get("/api/observability/claims") { _, _ in try await claimsList() }
        addBatchRoutes(router)
        addAccessRoutes(router)
        addStatusPage(router)
        return router
    }

    /// `/api/observability/claims`: on a shared state, every lock held in the daemon's environments
    /// (which daemon rotates what, until when); on a state of one host, a 404 that says so.
    func claimsList() async throws -> Response {
        guard let claims = schedule as? any ClaimingStore else {
            return json(["error": "claims exist only on a shared state (--state postgres://…)"], status: .notFound)
        }
        return json(["claims": try await claims.claims(in: scope, now: engine.clock.now()).map { claim in
            ["secret": claim.secret.rawValue, "holder": claim.holder, "expiresAt": RecordJSON.date(claim.expiresAt), "fence": claim.fence] as [String: Any]
        }])
    }

    func summary(_ secret: ManagedSecret, _ entry: ScheduleEntry?, _ lastAccess: LastAccess?) -> [String: Any] {
        [
            "id": secret.id.rawValue,
            "lastAccess": RecordJSON.date(lastAccess?.at),
            "lastAccessBy": lastAccess?.reader ?? NSNull(),
            "policy": entry?.policy ?? NSNull(),
            "rotator": secret.rotator.rawValue,
            "lastRotated": RecordJSON.date(secret.lastRotatedAt),
            "nextRotation": RecordJSON.date(entry?.nextDueAt),
            "status": secret.status.rawValue,
            "failureCount": secret.failedRuns,
            "lastError": secret.lastError.map { String($0.prefix(300)) } ?? NSNull(),
        ]
    }

    /// `/metrics`' body: the fleet-level gauges refreshed (a few index look-ups), then rendered.
    public func metricsText() async throws -> String {
        try await refreshGauges()
        return metrics.render()
    }

    func refreshGauges() async throws {
        metrics.fleet(try await schedule.fleetSummary(in: scope, now: engine.clock.now()))
        metrics.pendingAlerts(try await schedule.pendingAlertCount())
        guard metrics.perSecretSeries else { return }
        for entry in try await schedule.scheduleEntries(in: scope) { metrics.nextRotation(entry.secret, at: entry.nextDueAt) }
        for secret in try await engine.state.managedSecrets(in: scope) { if let last = secret.lastRotatedAt { metrics.lastSuccess(secret.id, at: last) } }
    }

    /// One page of `/api/observability/secrets?limit=N&after=ID`, in id order; `next` is the `after`
    /// of the following page (absent on the last one).
    public func secretsPage(_ query: Parameters) async throws -> Response {
        var limit = Self.defaultPage
        if let raw = query["limit"] {
            guard let value = Int(raw), (1...Self.maximumPage).contains(value) else {
                return json(["error": "limit must be a whole number from 1 to \(Self.maximumPage)"], status: .badRequest)
            }
            limit = value
        }
        var after: SecretID?
        if let raw = query["after"].map(String.init) {
            guard let id = try? SecretID(raw) else { return json(["error": "after must be a secret id (the previous page's next)"], status: .badRequest) }
            after = id
        }
        let page = try await schedule.secretPage(in: scope, after: after, limit: limit + 1)
        let shown = page.prefix(limit)
        let reads = try await access?.store.lastAccess(of: shown.map(\.secret.id)) ?? [:]
        var body: [String: Any] = ["secrets": shown.map { summary($0.secret, $0.entry, reads[$0.secret.id]) }]
        body["next"] = page.count > limit ? shown.last.map { $0.secret.id.rawValue as Any } : NSNull()
        return json(body)
    }
}

func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: RecordJSON.encode(object))))
}

/// Requires `Authorization: Bearer <token>` on every route but `/healthz` and the status page's
/// login; the status page's pages (`GET /`, `GET /secrets/…`) also take the session cookie, and
/// send a browser without either to the login form.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String
    let session: StatusSession
    let clock: any RotorClock
    /// Requests that present a wrong token: after ten a minute, the next are answered 429 (guessing is slow).
    let wrongTokens: ObservabilityAPI.FailureLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        // The login form, and access reports (their route checks report tokens itself).
        let open = path == "/healthz" || path == "/login" || path == "/logout" || (request.method == .post && path == "/api/access")
        guard !open else { return try await next(request, context) }
        if let header = request.headers[.authorization] {
            if Self.constantTimeEquals(header, "Bearer \(token)") { return try await next(request, context) }
            guard wrongTokens.take(at: clock.now()) != nil else { return json(["error": "too many wrong tokens; wait a minute"], status: .tooManyRequests) }
        }
        let isPage = request.method == .get && (path == "/" || path.hasPrefix("/secrets/"))
        guard isPage else { return json(["error": "missing or wrong bearer token"], status: .unauthorized) }
        if let cookie = StatusSession.value(in: request.headers[.cookie]), session.isValid(cookie, now: clock.now()) {
            return try await next(request, context)
        }
        return ObservabilityAPI.redirect("/login")
    }

    /// Compares the SHA-256 digests in constant time: neither the content nor the length leaks.
    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        SecretValue(bytes: Array(SHA256.hash(data: Data(lhs.utf8)))).constantTimeEquals(SecretValue(bytes: Array(SHA256.hash(data: Data(rhs.utf8)))))
    }
}
