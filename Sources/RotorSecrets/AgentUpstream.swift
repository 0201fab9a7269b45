import AsyncHTTPClient
import Foundation
import NIOCore
import RotorCore

/// A local agent (rotor's or AWS's Secrets Manager Agent) as an upstream: `GET /secretsmanager/get`
/// with the SSRF token. The agent caches and hears of rotations itself, so a client in front of it
/// keeps a short TTL. Only loopback URLs are accepted: the token must not cross a network.
public struct AgentUpstream: SecretUpstream {
    let base: String
    let token: SecretValue
    let http: HTTPClient

    /// - Parameters:
    ///   - url: the agent, `http://127.0.0.1:2773` by default.
    ///   - token: the SSRF token (as the agent reads it: `AWS_TOKEN`, or a file).
    /// No redirects: a 3xx from whatever answers on the port must not carry the token elsewhere.
    public static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(1), read: .seconds(10))))

    public init(url: URL = URL(string: "http://127.0.0.1:2773")!, token: SecretValue, http: HTTPClient = AgentUpstream.client) throws(RotorError) {
        guard url.scheme == "http", url.user == nil, url.password == nil, let host = url.host, ["127.0.0.1", "localhost", "::1"].contains(host) else {
            throw RotorError(.invalidParameter, "the agent URL must be http on loopback (127.0.0.1, localhost or ::1)",
                             remedy: "run the agent on this host; its token must not cross a network")
        }
        base = url.absoluteString.hasSuffix("/") ? String(url.absoluteString.dropLast()) : url.absoluteString
        self.token = token
        self.http = http
    }

    public var fetchAPI: String { "AgentGet" }
    public var checkAPI: String? { nil }

    public func stillAnswers(_ key: SecretCache.Key, cached: SecretVersionValue) async throws -> Bool { false }

    public func fetch(_ key: SecretCache.Key) async throws -> SecretVersionValue {
        var components = URLComponents(string: base + "/secretsmanager/get")!
        components.queryItems = [URLQueryItem(name: "secretId", value: key.secretID)]
            + (key.versionID.map { [URLQueryItem(name: "versionId", value: $0.rawValue)] } ?? [])
            + (key.stage.map { [URLQueryItem(name: "versionStage", value: $0.rawValue)] } ?? [])
        // '+' is literal in a query: encode it so that an id or stage with '+' reaches the agent intact.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var request = HTTPClientRequest(url: components.string!)
        request.headers.add(name: "X-Aws-Parameters-Secrets-Token", value: token.exposedString ?? "")
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(10))
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw RotorError(.transient, "the local agent did not answer (\(type(of: error)))", remedy: "check that rotor agent runs", isTransient: true)
        }
        return try Self.decode(status: Int(response.status.code), body: Data(body.readableBytesView), key: key)
    }

    /// GetSecretValue's JSON as the agent writes it (CreatedDate a string or a number), or its error.
    static func decode(status: Int, body: Data, key: SecretCache.Key) throws -> SecretVersionValue {
        let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        guard status == 200, let json else { throw failure(status: status, type: json?["__type"] as? String, key: key) }
        guard let name = json["Name"] as? String, let version = json["VersionId"] as? String else {
            throw RotorError(.remoteFailure, "the agent's answer has no Name or VersionId")
        }
        let value: SecretValue
        if let text = json["SecretString"] as? String {
            value = SecretValue(string: text)
        } else if let binary = (json["SecretBinary"] as? String).flatMap({ Data(base64Encoded: $0) }) {
            value = SecretValue(bytes: Array(binary))
        } else {
            throw RotorError(.remoteFailure, "the agent's answer has neither SecretString nor SecretBinary")
        }
        let created = (json["CreatedDate"] as? String).flatMap(Double.init) ?? (json["CreatedDate"] as? Double) ?? 0
        let stages = (json["VersionStages"] as? [String] ?? []).compactMap { try? StagingLabel($0) }
        return SecretVersionValue(secret: try SecretID(nameOrARN: name), versionID: VersionID(version), stages: stages, value: value,
                                  createdAt: Date(timeIntervalSince1970: created))
    }

    static func failure(status: Int, type: String?, key: SecretCache.Key) -> RotorError {
        let id = key.secretID.printable(limit: 200)
        switch (status, type) {
        case (_, "ResourceNotFoundException"?): return RotorError(.secretNotFound, "the agent has no secret \(id)")
        case (_, "AccessDeniedException"?): return RotorError(.accessDenied, "the agent was denied \(id)")
        case (403, _): return RotorError(.accessDenied, "the agent refused the token", remedy: "give the client the agent's token")
        case (400, _): return RotorError(.invalidParameter, "the agent refused the request for \(id) (HTTP 400)")
        default: return RotorError(.transient, "the agent answered HTTP \(status) for \(id)", isTransient: status >= 500 || status == 429)
        }
    }
}
