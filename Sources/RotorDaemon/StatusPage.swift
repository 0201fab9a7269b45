import Foundation
import HTTPTypes
import Hummingbird
import RotorCore
import RotorHTTP
import Synchronization

/// The status page a person reads: `GET /` lists the secrets (filters by environment and status,
/// pages of 100), `GET /secrets/{id}` shows one with its rotation history. Behind the API's token:
/// `GET /login` asks for it, `POST /login` sets a session cookie (``StatusSession``), `POST /logout`
/// clears it; the token never appears in a URL. Headers forbid scripts, framing and referrers.
extension ObservabilityAPI {
    static let pageSize = 100
    static let pagePaths: Set<String> = ["/", "/login", "/logout"]

    func addStatusPage(_ router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in
            try await listPage(request.uri.queryParameters)
        }
        router.get("/secrets/**") { _, context in
            let raw = "/" + context.parameters.getCatchAll().joined(separator: "/")
            guard let id = try? SecretID(raw), scope.contains(id), let secret = try await engine.state.managedSecret(id) else {
                return Self.html(StatusPageHTML.page("rotor: not found", "<p>No managed secret \(StatusPageHTML.escaped(String(raw.prefix(200)))).</p><p><a href=\"/\">all secrets</a></p>"), .notFound)
            }
            let row = try await rows([(secret, try await schedule.scheduleEntry(id))]).first!
            return Self.html(StatusPageHTML.secret(row, history: try await engine.state.rotations(of: id, limit: 50)))
        }
        router.get("/login") { _, _ in Self.html(StatusPageHTML.login(failed: false)) }
        router.post("/login") { request, _ in
            guard let token else { return Self.redirect("/") }
            // Off loopback the token would cross the network in clear text, as for batches.
            if let refusal = batchAPIRefusal {
                return Self.html(StatusPageHTML.page("rotor", "<p>\(StatusPageHTML.escaped(refusal.replacingOccurrences(of: "POST /api/rotations", with: "Signing in")))</p>"), .forbidden)
            }
            let now = engine.clock.now()
            // The attempt takes a slot before the body is read, so parallel guesses share the limit.
            guard let attempt = logins.take(at: now) else { return Self.html(StatusPageHTML.login(failed: true), .tooManyRequests) }
            let body = String(buffer: try await request.body.collect(upTo: 4096))
            guard BearerTokenMiddleware.constantTimeEquals(Self.formValue("token", in: body) ?? "", token) else {
                return Self.html(StatusPageHTML.login(failed: true), .unauthorized)
            }
            logins.release(attempt)
            var response = Self.redirect("/")
            response.headers[.setCookie] = "\(StatusSession.cookieName)=\(session.cookie(issuedAt: now)); Path=/; HttpOnly;\(Self.secure(request) ? " Secure;" : "") SameSite=Strict; Max-Age=\(Int(StatusSession.lifetime))"
            return response
        }
        router.post("/logout") { request, _ in
            // Only a signed-in page of this daemon signs everyone out (not a form on another site).
            if let cookie = StatusSession.value(in: request.headers[.cookie]), session.isValid(cookie, now: engine.clock.now()) {
                session.revokeAll(at: engine.clock.now())
            }
            var response = Self.redirect("/login")
            response.headers[.setCookie] = "\(StatusSession.cookieName)=; Path=/; HttpOnly;\(Self.secure(request) ? " Secure;" : "") SameSite=Strict; Max-Age=0"
            return response
        }
    }

    func listPage(_ query: Parameters) async throws -> Response {
        let environment = query["environment"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let status = query["status"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        var pageScope = scope
        if let environment {
            guard let chosen = try? Environment(environment), scope.contains(environment: chosen) else {
                return Self.html(StatusPageHTML.page("rotor", "<p>No such environment here.</p><p><a href=\"/\">all secrets</a></p>"), .badRequest)
            }
            pageScope = .only(chosen)
        }
        if let status, SecretStatus(rawValue: status) == nil {
            return Self.html(StatusPageHTML.page("rotor", "<p>No such status.</p><p><a href=\"/\">all secrets</a></p>"), .badRequest)
        }
        let after = query["after"].flatMap { try? SecretID(String($0)) }
        let page = try await schedule.secretPage(in: pageScope, after: after, limit: Self.pageSize + 1)
        let shown = Array(page.prefix(Self.pageSize))
        let matching = shown.filter { status == nil || $0.secret.status.rawValue == status }
        let next = page.count > Self.pageSize ? shown.last?.secret.id.rawValue : nil
        let environments = try await schedule.fleetEnvironments(in: scope)
        return Self.html(StatusPageHTML.secrets(try await rows(matching), environments: environments, environment: environment, status: status, next: next))
    }

    /// The page rows: each secret with its schedule, last read and the day's alerts.
    func rows(_ items: [(secret: ManagedSecret, entry: ScheduleEntry?)]) async throws -> [StatusPageHTML.Row] {
        let ids = items.map(\.secret.id)
        let reads = try await access?.store.lastAccess(of: ids) ?? [:]
        let alerts = try await schedule.recentAlerts(of: ids, since: engine.clock.now().addingTimeInterval(-86_400))
        return items.map { StatusPageHTML.Row(secret: $0.secret, entry: $0.entry, lastAccess: reads[$0.secret.id], alerts: alerts[$0.secret.id] ?? []) }
    }

    static func html(_ text: String, _ status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            HTTPField.Name("X-Frame-Options")!: "DENY", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff", .cacheControl: "no-store",
        ], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Limits attempts that fail to ten a minute, for the whole daemon: guessing the token is slow.
    /// Each attempt takes a slot first and gives it back when it succeeds. (Someone who can reach the
    /// daemon can also hold new sign-ins off; sessions and requests with the right token go on working.)
    final class FailureLimiter: Sendable {
        private let attempts = Mutex<[(id: UInt64, at: Date)]>([])
        private let counter = Mutex<UInt64>(0)
        func take(at now: Date) -> UInt64? {
            let id = counter.withLock { $0 += 1; return $0 }
            return attempts.withLock { attempts in
                attempts.removeAll { now.timeIntervalSince($0.at) >= 60 }
                guard attempts.count < 10 else { return nil }
                attempts.append((id, now))
                return id
            }
        }
        func release(_ id: UInt64) { attempts.withLock { $0.removeAll { $0.id == id } } }
    }

    /// Whether the browser reached the page over a secure context (loopback, or HTTPS at a proxy):
    /// only then is the cookie marked Secure, which a browser would refuse over plain HTTP.
    static func secure(_ request: Request) -> Bool {
        let host = request.head.authority.map { $0.hasPrefix("[") ? String($0.prefix { $0 != "]" }.dropFirst()) : String($0.prefix { $0 != ":" }) } ?? ""
        return OutboundURL.isLoopback(host) || request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https"
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// One field of an `application/x-www-form-urlencoded` body.
    static func formValue(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }
}
