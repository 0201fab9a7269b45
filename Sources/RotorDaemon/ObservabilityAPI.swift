import Foundation
import Hummingbird
import RotorCore

/// The daemon's HTTP API: `/healthz`, `/metrics` (Prometheus text), and
/// `/api/observability/secrets[/{id}]` (metadata, never values), all from rotor's own state (no
/// secret-store call, no audit row per read) and only for the daemon's environments. With a token,
/// every route but `/healthz` needs `Authorization: Bearer <token>`.
public struct ObservabilityAPI: Sendable {
    let engine: RotationEngine
    let schedule: any SchedulingStore
    let metrics: RotorMetrics
    let scheduler: RotationScheduler
    let token: String?
    var scope: EnvironmentScope { scheduler.configuration.scope }

    public init(engine: RotationEngine, schedule: any SchedulingStore, metrics: RotorMetrics, scheduler: RotationScheduler, token: String?) {
        self.engine = engine
        self.schedule = schedule
        self.metrics = metrics
        self.scheduler = scheduler
        self.token = token
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        if let token { router.middlewares.add(BearerTokenMiddleware(token: token)) }
        router.get("/healthz") { _, _ in
            let degraded = scheduler.degradedReason
            return json(["status": degraded == nil ? "ok" : "degraded", "active": scheduler.isLeader, "problem": degraded.map { $0 as Any } ?? NSNull()])
        }
        router.get("/metrics") { _, _ in
            try await refreshGauges()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/api/observability/secrets") { _, _ in
            let secrets = try await engine.state.managedSecrets(in: scope)
            let entries = Dictionary(uniqueKeysWithValues: try await schedule.scheduleEntries(in: scope).map { ($0.secret, $0) })
            return json(["secrets": secrets.map { summary($0, entries[$0.id]) }])
        }
        router.get("/api/observability/secrets/**") { _, context in
            let raw = "/" + context.parameters.getCatchAll().joined(separator: "/")
            guard let id = try? SecretID(nameOrARN: raw), scope.contains(id), let secret = try await engine.state.managedSecret(id) else {
                return json(["error": "no managed secret \(raw.prefix(200))"], status: .notFound)
            }
            let history = try await engine.state.rotations(of: id, limit: 50)
            var item = summary(secret, try await schedule.scheduleEntry(id))
            item["currentVersion"] = history.first { $0.outcome == .succeeded }.map { $0.token.rawValue as Any } ?? NSNull()
            item["history"] = history.map(RecordJSON.rotation)
            return json(item)
        }
        return router
    }

    func summary(_ secret: ManagedSecret, _ entry: ScheduleEntry?) -> [String: Any] {
        [
            "id": secret.id.rawValue,
            "policy": entry?.policy ?? NSNull(),
            "rotator": secret.rotator.rawValue,
            "lastRotated": RecordJSON.date(secret.lastRotatedAt),
            "nextRotation": RecordJSON.date(entry?.nextDueAt),
            "status": secret.status.rawValue,
            "failureCount": secret.failedRuns,
            "lastError": secret.lastError.map { String($0.prefix(300)) } ?? NSNull(),
        ]
    }

    func refreshGauges() async throws {
        let secrets = try await engine.state.managedSecrets(in: scope)
        metrics.quarantined(count: secrets.filter { $0.status == .quarantined }.count)
        metrics.pendingAlerts(try await schedule.pendingAlertCount())
        for entry in try await schedule.scheduleEntries(in: scope) { metrics.nextRotation(entry.secret, at: entry.nextDueAt) }
        for secret in secrets { if let last = secret.lastRotatedAt { metrics.lastSuccess(secret.id, at: last) } }
    }
}

func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: RecordJSON.encode(object))))
}

/// Requires `Authorization: Bearer <token>` on every route but `/healthz`.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path != "/healthz" else { return try await next(request, context) }
        let expected = "Bearer \(token)"
        guard let header = request.headers[.authorization], Self.constantTimeEquals(header, expected) else {
            return json(["error": "missing or wrong bearer token"], status: .unauthorized)
        }
        return try await next(request, context)
    }

    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        SecretValue(string: lhs).constantTimeEquals(SecretValue(string: rhs))
    }
}
