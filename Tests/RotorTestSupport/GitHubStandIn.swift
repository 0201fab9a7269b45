import Crypto
import CryptoExtras
import Foundation
import Synchronization

/// A loopback stand-in for the parts of GitHub's REST API the rotators use, written from GitHub's
/// documentation and enforcing what GitHub enforces: a `User-Agent` on every request; app JWTs that
/// are RS256 (not `none`, not HS256), signed by the App's key, issued by its app or client id, with
/// `exp` in the future and at most 10 minutes ahead; installation tokens that expire after an hour,
/// are limited to their grant and die when revoked; `GET /user` with `X-OAuth-Scopes` for classic
/// tokens and the expiry header; `/credentials/revoke` only unauthenticated, 1-1,000 entries, 60 an
/// hour; rate-limit headers, and scripted rate-limit answers.
public final class GitHubStandIn: Sendable {
    public struct Installation: Sendable {
        public var repositories: [String]
        public var permissions: [String: String]
        public init(repositories: [String], permissions: [String: String]) {
            self.repositories = repositories
            self.permissions = permissions
        }
    }
    public struct Token: Sendable {
        public enum Owner: Sendable { case installation(String, repositories: [String]), user(login: String, scopes: [String]?) }
        public var owner: Owner
        public var expiresAt: Date?
        public var revoked = false
    }
    public struct State: Sendable {
        public var installations: [String: Installation] = [:]
        public var tokens: [String: Token] = [:]
        public var scripted: [LoopbackHTTPServer.Reply] = []
        public var revocations = 0
        public var log: [String] = []
        public var skew: TimeInterval = 0
        /// Installation tokens in the order issued.
        public var issued: [String] = []
        /// How many of the next repository listings to refuse with 401 (a token GitHub revoked meanwhile).
        public var refuseListings = 0
    }

    public let publicKey: _RSA.Signing.PublicKey
    public let issuers: Set<String>
    public let prefix: String
    public let state = Mutex(State())
    public private(set) nonisolated(unsafe) var server: LoopbackHTTPServer!

    /// - Parameter prefix: the API's base path, `""` for github.com or `/api/v3` for Enterprise Server.
    public init(publicKey: _RSA.Signing.PublicKey, issuers: Set<String>, prefix: String = "") async throws {
        self.publicKey = publicKey
        self.issuers = issuers
        self.prefix = prefix
        server = try await LoopbackHTTPServer(host: LoopbackHTTPServer.uniqueLoopbackAddress()) { [weak self] request in
            guard let self else { return .drop }
            return self.handle(request)
        }
    }

    public var baseURL: String { server.url.absoluteString + prefix }
    public func close() async { try? await server.close() }
    public var now: Date { Date().addingTimeInterval(state.withLock { $0.skew }) }
    public var log: [String] { state.withLock { $0.log } }

    /// A personal access token GitHub knows.
    public func addUserToken(_ token: String, login: String, scopes: [String]?, expiresAt: Date?) {
        state.withLock { $0.tokens[token] = Token(owner: .user(login: login, scopes: scopes), expiresAt: expiresAt) }
    }
    public func isLive(_ token: String) -> Bool { liveToken(token) != nil }
    /// Answers the next requests with these, in order, before anything else.
    public func script(_ replies: LoopbackHTTPServer.Reply...) { state.withLock { $0.scripted += replies } }

    public func handle(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Reply {
        let path = String(request.head.uri.split(separator: "?").first ?? "")
        state.withLock { $0.log.append("\(request.head.method.rawValue) \(path)") }
        guard request.head.headers.first(name: "User-Agent")?.isEmpty == false else {
            return error(403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
        }
        if let scripted = state.withLock({ $0.scripted.isEmpty ? nil : $0.scripted.removeFirst() }) { return scripted }
        guard path.hasPrefix(prefix) else { return error(404, "Not Found") }
        let route = String(path.dropFirst(prefix.count))
        let bearer = request.head.headers.first(name: "Authorization").flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let parts = route.split(separator: "/").map(String.init)
        switch (request.head.method.rawValue, parts) {
        case ("POST", let p) where p.count == 4 && p[0] == "app" && p[1] == "installations" && p[3] == "access_tokens":
            return issueToken(installation: p[2], jwt: bearer, body: request.body)
        case ("GET", ["installation", "repositories"]): return repositories(bearer)
        case ("DELETE", ["installation", "token"]): return revokeInstallationToken(bearer)
        case ("GET", ["user"]): return user(bearer)
        case ("POST", ["credentials", "revoke"]):
            return revokeCredentials(authenticated: request.head.headers.contains(name: "Authorization"), body: request.body)
        default: return error(404, "Not Found")
        }
    }

    // MARK: App tokens

    public func issueToken(installation: String, jwt: String?, body: [UInt8]) -> LoopbackHTTPServer.Reply {
        if let refusal = verifyJWT(jwt) { return error(401, refusal) }
        guard let grant = state.withLock({ $0.installations[installation] }) else { return error(404, "Not Found") }
        let request = (try? JSONSerialization.jsonObject(with: Data(body.isEmpty ? Array("{}".utf8) : body)) as? [String: Any]) ?? [:]
        let repositories = (request["repositories"] as? [String]) ?? []
        let permissions = (request["permissions"] as? [String: String]) ?? grant.permissions
        guard repositories.count <= 500, repositories.allSatisfy(grant.repositories.contains) else {
            return error(422, "There is at least one repository that does not exist or is not accessible to the parent installation.")
        }
        let rank = ["read": 1, "write": 2, "admin": 3]
        guard permissions.allSatisfy({ (rank[grant.permissions[$0.key] ?? ""] ?? 0) >= (rank[$0.value] ?? 9) }) else {
            return error(422, "The permissions requested are not granted to this installation.")
        }
        let token = "ghs_" + Self.randomText(36)
        let expiry = now.addingTimeInterval(3600)
        let scope = repositories.isEmpty ? grant.repositories : repositories
        state.withLock {
            $0.tokens[token] = Token(owner: .installation(installation, repositories: scope), expiresAt: expiry)
            $0.issued.append(token)
        }
        return json(201, ["token": token, "expires_at": expiry.formatted(.iso8601), "permissions": permissions,
                          "repository_selection": repositories.isEmpty ? "all" : "selected"])
    }

    /// Why a JWT is refused, or `nil` when GitHub would accept it.
    public func verifyJWT(_ jwt: String?) -> String? {
        guard let jwt else { return "A JSON web token could not be decoded" }
        let parts = jwt.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let header = Self.decode(parts[0]), let claims = Self.decode(parts[1]), let signature = Self.bytes(parts[2]) else {
            return "A JSON web token could not be decoded"
        }
        guard header["alg"] as? String == "RS256" else { return "'alg' must be RS256" }
        let input = Data((parts[0] + "." + parts[1]).utf8)
        guard publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5) else {
            return "A JSON web token could not be decoded"
        }
        let issuer = (claims["iss"] as? String) ?? (claims["iss"] as? NSNumber)?.stringValue
        guard let issuer, issuers.contains(issuer) else { return "'Issuer' claim ('iss') must be an Integer or a String" }
        guard let issued = (claims["iat"] as? NSNumber)?.doubleValue, issued <= now.timeIntervalSince1970 + 60 else { return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued" }
        guard let expires = (claims["exp"] as? NSNumber)?.doubleValue else { return "'Expiration time' claim ('exp') must be a numeric value" }
        guard expires > now.timeIntervalSince1970 else { return "'Expiration time' claim ('exp') is in the past" }
        guard expires - now.timeIntervalSince1970 <= 600 else { return "'Expiration time' claim ('exp') is too far in the future" }
        return nil
    }

    public func liveToken(_ bearer: String?) -> Token? {
        guard let bearer, let token = state.withLock({ $0.tokens[bearer] }), !token.revoked, (token.expiresAt ?? .distantFuture) > now else { return nil }
        return token
    }

    public func repositories(_ bearer: String?) -> LoopbackHTTPServer.Reply {
        if state.withLock({ state in defer { state.refuseListings -= 1 }; return state.refuseListings > 0 }) { return error(401, "Bad credentials") }
        guard let token = liveToken(bearer), case .installation(_, let repositories) = token.owner else { return error(401, "Bad credentials") }
        return json(200, ["total_count": repositories.count, "repositories": repositories.map { ["name": $0, "full_name": "acme/\($0)"] },
                          "repository_selection": "selected"])
    }

    public func revokeInstallationToken(_ bearer: String?) -> LoopbackHTTPServer.Reply {
        guard let bearer, let token = liveToken(bearer), case .installation = token.owner else { return error(401, "Bad credentials") }
        state.withLock { $0.tokens[bearer]?.revoked = true }
        return .respond(status: 204, headers: rateHeaders(), body: [])
    }

    // MARK: Personal access tokens

    public func user(_ bearer: String?) -> LoopbackHTTPServer.Reply {
        guard let token = liveToken(bearer), case .user(let login, let scopes) = token.owner else { return error(401, "Bad credentials") }
        var headers = rateHeaders()
        if let scopes { headers.append(("X-OAuth-Scopes", scopes.joined(separator: ", "))) }
        if let expiry = token.expiresAt { headers.append(("GitHub-Authentication-Token-Expiration", Self.expiryHeader(expiry))) }
        return .respond(status: 200, headers: headers + [("Content-Type", "application/json")], body: Array(#"{"login":"\#(login)","id":1}"#.utf8))
    }

    public func revokeCredentials(authenticated: Bool, body: [UInt8]) -> LoopbackHTTPServer.Reply {
        guard !authenticated else { return error(403, "This endpoint must be called without authentication") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let credentials = object["credentials"] as? [String],
              (1...1000).contains(credentials.count) else { return error(422, "Invalid request") }
        let allowed = state.withLock { state -> Bool in
            state.revocations += 1
            return state.revocations <= 60
        }
        guard allowed else { return error(429, "API rate limit exceeded") }
        state.withLock { state in for credential in credentials { state.tokens[credential]?.revoked = true } }
        return json(202, [:])
    }

    // MARK: Answers

    public func rateHeaders() -> [(String, String)] {
        [("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999"), ("x-ratelimit-used", "1"),
         ("x-ratelimit-reset", "\(Int(now.timeIntervalSince1970) + 3600)"), ("x-ratelimit-resource", "core")]
    }
    public func json(_ status: Int, _ object: [String: Any]) -> LoopbackHTTPServer.Reply {
        .respond(status: status, headers: rateHeaders() + [("Content-Type", "application/json")],
                 body: Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()))
    }
    public func error(_ status: Int, _ message: String) -> LoopbackHTTPServer.Reply {
        json(status, ["message": message, "documentation_url": "https://docs.github.com/rest", "status": "\(status)"])
    }

    public static func expiryHeader(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date) + " UTC"
    }
    public static func randomText(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return String((0..<count).map { _ in alphabet.randomElement()! })
    }
    public static func bytes(_ base64URL: String) -> Data? {
        var text = base64URL.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text)
    }
    public static func decode(_ base64URL: String) -> [String: Any]? {
        bytes(base64URL).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
}
