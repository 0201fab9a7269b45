import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// GitHub's REST API as the rotators use it: the required headers (`Accept`, `X-GitHub-Api-Version`,
/// `User-Agent`), rate limits honoured (a limited call waits the stated time once, within a bound,
/// then is a transient failure; never a tight loop), and errors that name the secret and step.
struct GitHubAPI: Sendable {
    let base: OutboundURL
    var apiVersion = "2022-11-28"
    var http = OutboundHTTP()
    /// The longest a call waits for a rate limit before it gives the attempt up as transient.
    var maxRateLimitWait: TimeInterval = 30

    static let defaultBase = "https://api.github.com"

    struct Call {
        var method: HTTPMethod
        var path: String
        var query: String? = nil
        /// The bearer credential (app JWT or token); `nil` for unauthenticated calls.
        var bearer: String?
        var body: [UInt8]? = nil
    }

    func send(_ call: Call, secret: SecretID, step: RotationStep) async throws(RotorError) -> OutboundResponse {
        var waited = false
        while true {
            let response = try await sendOnce(call, secret: secret, step: step)
            guard let wait = Self.rateLimitWait(response, now: Date()) else { return response }
            guard !waited, wait <= maxRateLimitWait else {
                throw RotorError(
                    .transient, "GitHub rate-limited \(call.method.rawValue) \(call.path) (HTTP \(response.status)) for another \(Int(wait.rounded(.up))) s",
                    secret: secret, step: step, remedy: "rotor retries after its backoff; if this repeats, other clients share the budget", isTransient: true)
            }
            waited = true
            try? await Task.sleep(for: .seconds(wait))
            if Task.isCancelled { throw RotorError(.transient, "cancelled while waiting for GitHub's rate limit", secret: secret, step: step, isTransient: true) }
        }
    }

    private func sendOnce(_ call: Call, secret: SecretID, step: RotationStep) async throws(RotorError) -> OutboundResponse {
        var headers = [("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", apiVersion)]
        if let bearer = call.bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        if call.body != nil { headers.append(("Content-Type", "application/json")) }
        do {
            return try await http.send(call.method, base.appending(path: call.path, query: call.query), headers: headers, body: call.body)
        } catch {
            throw RotorError(.transient, "GitHub at \(base.host) did not answer \(call.method.rawValue) \(call.path): \(error)", secret: secret, step: step,
                             remedy: "check that \(base) is reachable and its certificate trusted", isTransient: true)
        }
    }

    /// How long a rate-limited answer asks to wait, or `nil` when it is not rate-limited: `retry-after`
    /// first, then the primary limit's reset time, then 60 s for a secondary limit without either.
    static func rateLimitWait(_ response: OutboundResponse, now: Date) -> TimeInterval? {
        guard response.status == 403 || response.status == 429 else { return nil }
        if let seconds = response.headers.first(name: "retry-after").flatMap(TimeInterval.init) { return max(0, seconds) }
        if response.headers.first(name: "x-ratelimit-remaining") == "0", let reset = response.headers.first(name: "x-ratelimit-reset").flatMap(TimeInterval.init) {
            return max(0, reset - now.timeIntervalSince1970)
        }
        let message = (response.jsonObject?["message"] as? String ?? "").lowercased()
        if response.status == 429 || message.contains("rate limit") { return 60 }
        return nil
    }

    /// The error for an answer the caller did not expect: GitHub's message (capped), with 5xx transient.
    func failure(_ response: OutboundResponse, _ what: String, secret: SecretID, step: RotationStep, remedy: String) -> RotorError {
        let message = (response.jsonObject?["message"] as? String).map { text in
            ": " + String(text.unicodeScalars.filter { $0.properties.generalCategory != .control }.prefix(160).map(Character.init))
        } ?? ""
        let code: RotorError.Code = switch response.status {
        case 401: .authenticationFailed
        case 403: .accessDenied
        case 500...599: .transient
        default: .remoteFailure
        }
        return RotorError(code, "GitHub refused \(what) with HTTP \(response.status)\(message)", secret: secret, step: step, remedy: remedy,
                          isTransient: response.status >= 500)
    }
}

/// Options shared by the GitHub rotators.
struct GitHubOptions {
    static let help: [String: String] = [
        "api-version": "X-GitHub-Api-Version header (default 2022-11-28)",
        "ca-file": "PEM file of the CA that signed GitHub Enterprise Server's certificate (default: the system's roots)",
        "max-rate-limit-wait": "seconds a call may wait for GitHub's rate limit before the attempt is retried later (default 30)",
    ]

    static func api(base: String, _ reader: OptionReader) throws(RotorError) -> GitHubAPI {
        var api = GitHubAPI(base: try OutboundURL(base, option: "base-url", kind: reader.kind))
        if let version = reader.string("api-version") {
            guard version.count == 10, version.allSatisfy({ $0.isNumber || $0 == "-" }) else { throw reader.invalid("api-version", version, "expected YYYY-MM-DD") }
            api.apiVersion = version
        }
        api.http = OutboundHTTP(caFile: reader.string("ca-file"))
        api.maxRateLimitWait = TimeInterval(try reader.int("max-rate-limit-wait", default: 30, range: 0...300))
        return api
    }
}
