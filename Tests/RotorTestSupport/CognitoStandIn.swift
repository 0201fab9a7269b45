import Foundation
import NIOHTTP1
import RotorAWS
import Synchronization

/// A loopback stand-in for Cognito's app-client secret API and a pool domain's token endpoint,
/// written from AWS's API reference and enforcing what Cognito enforces: SigV4 with service
/// `cognito-idp` and the pool's region, a known access key, a matching signature and a date within
/// 15 minutes; AWS JSON 1.1 (`X-Amz-Target`, content type); id patterns; 24-64 characters of
/// `[\w+]` for a custom secret; at most two secrets per client (LimitExceededException) and never
/// the last one deleted; values returned only for generated secrets and never listed; and at
/// `/oauth2/token` a `client_credentials` grant that needs HTTP Basic with an active secret, the
/// flow enabled for the client and a known scope.
public final class CognitoStandIn: Sendable {
    public struct ClientSecret: Sendable {
        public let id: String
        public let value: String
        public let created: Date
    }
    public struct AppClient: Sendable {
        public var secrets: [ClientSecret] = []
        public var clientCredentialsFlow = true
        public var scopes: [String] = ["rotor-api/read"]
    }
    public struct State: Sendable {
        public var clients: [String: AppClient] = [:]
        public var log: [String] = []
        /// Answers to give the next requests instead of serving them.
        public var scripted: [LoopbackHTTPServer.Reply] = []
        /// How many of the next AddUserPoolClientSecret requests to carry out and then answer by
        /// closing the connection (an answer lost on the way).
        public var loseAddAnswers = 0
        /// Every secret value the client ever had, deleted ones too (for canary checks).
        public var everHeld: [String] = []
        var lastCreated: TimeInterval = 0
    }

    public let region: String
    public let poolID: String
    public let accessKeyID = "AKIDCOGNITOSTANDIN"
    public let secretAccessKey = "cognito-stand-in-secret-access-key"
    public let state = Mutex(State())
    private(set) nonisolated(unsafe) var server: LoopbackHTTPServer!

    public init(region: String = "eu-west-1", poolSuffix: String = "AbC123") async throws {
        self.region = region
        poolID = "\(region)_\(poolSuffix)"
        server = try await LoopbackHTTPServer(host: LoopbackHTTPServer.uniqueLoopbackAddress()) { [weak self] request in
            guard let self else { return .drop }
            return self.handle(request)
        }
    }

    public var endpoint: String { server.url.absoluteString }
    public var tokenEndpoint: String { server.url.absoluteString + "/oauth2/token" }
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": endpoint]
    }
    public var log: [String] { state.withLock { $0.log } }
    public func close() async { try? await server.close() }

    /// Creates an app client with one secret, as CreateUserPoolClient with a custom ClientSecret does.
    public func addClient(_ clientID: String, secret: String, clientCredentials: Bool = true) -> String {
        state.withLock { state in
            let made = Self.secret(for: clientID, value: secret, &state)
            state.clients[clientID] = AppClient(secrets: [made], clientCredentialsFlow: clientCredentials)
            return made.id
        }
    }

    public func secretIDs(_ clientID: String) -> [String] { state.withLock { $0.clients[clientID]?.secrets.map(\.id) ?? [] } }
    public func accepts(_ clientID: String, _ value: String) -> Bool { state.withLock { $0.clients[clientID]?.secrets.contains { $0.value == value } ?? false } }

    // MARK: Serving

    func handle(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Reply {
        if let scripted = state.withLock({ $0.scripted.isEmpty ? nil : $0.scripted.removeFirst() }) { return scripted }
        if request.head.uri.hasPrefix("/oauth2/token") { return token(request) }
        guard request.head.method == .POST, request.head.uri == "/" else { return Self.error(404, "UnknownOperationException", "not found") }
        if let refusal = verifySignature(request) { return refusal }
        guard request.head.headers.first(name: "Content-Type") == "application/x-amz-json-1.1" else {
            return Self.error(400, "SerializationException", "Content-Type must be application/x-amz-json-1.1")
        }
        guard let target = request.target, target.hasPrefix("AWSCognitoIdentityProviderService.") else {
            return Self.error(400, "UnknownOperationException", "unknown target")
        }
        let operation = String(target.dropFirst("AWSCognitoIdentityProviderService.".count))
        guard let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
            return Self.error(400, "SerializationException", "the body is not a JSON object")
        }
        state.withLock { $0.log.append(operation) }
        guard let pool = body["UserPoolId"] as? String, pool.range(of: #"^[\w-]+_[0-9a-zA-Z]+$"#, options: .regularExpression) != nil, pool.count <= 55 else {
            return Self.error(400, "InvalidParameterException", "1 validation error detected: Value at 'userPoolId' failed to satisfy constraint")
        }
        guard let clientID = body["ClientId"] as? String, clientID.range(of: #"^[\w+]+$"#, options: .regularExpression) != nil, clientID.count <= 128 else {
            return Self.error(400, "InvalidParameterException", "1 validation error detected: Value at 'clientId' failed to satisfy constraint")
        }
        guard pool == poolID else { return Self.error(400, "ResourceNotFoundException", "User pool \(pool) does not exist.") }
        return state.withLock { state in
            guard state.clients[clientID] != nil else { return Self.error(400, "ResourceNotFoundException", "User pool client \(clientID) does not exist.") }
            switch operation {
            case "ListUserPoolClientSecrets": return Self.list(clientID, body, state)
            case "AddUserPoolClientSecret":
                let answer = Self.add(clientID, body, &state)
                guard state.loseAddAnswers > 0 else { return answer }
                state.loseAddAnswers -= 1
                return .drop
            case "DeleteUserPoolClientSecret": return Self.delete(clientID, body, &state)
            case "DescribeUserPoolClient": return Self.describe(clientID, pool: pool, state)
            default: return Self.error(400, "UnknownOperationException", "\(operation) is not an operation of this stand-in")
            }
        }
    }

    /// One secret per page, so the client's paging is exercised.
    static func list(_ clientID: String, _ body: [String: Any], _ state: State) -> LoopbackHTTPServer.Reply {
        let secrets = state.clients[clientID]!.secrets
        let start = (body["NextToken"] as? String).flatMap(Int.init) ?? 0
        guard start >= 0, start <= secrets.count else { return error(400, "InvalidParameterException", "invalid NextToken") }
        var answer: [String: Any] = ["ClientSecrets": secrets[start..<min(start + 1, secrets.count)].map {
            ["ClientSecretId": $0.id, "ClientSecretCreateDate": $0.created.timeIntervalSince1970] as [String: Any]
        }]
        if start + 1 < secrets.count { answer["NextToken"] = "\(start + 1)" }
        return json(answer)
    }

    static func add(_ clientID: String, _ body: [String: Any], _ state: inout State) -> LoopbackHTTPServer.Reply {
        let custom = body["ClientSecret"] as? String
        if let custom, !(24...64).contains(custom.count) || custom.range(of: #"^[\w+]+$"#, options: .regularExpression) == nil {
            return error(400, "InvalidParameterException", "1 validation error detected: Value at 'clientSecret' failed to satisfy constraint")
        }
        guard state.clients[clientID]!.secrets.count < 2 else {
            return error(400, "LimitExceededException", "The client already has the maximum number of client secrets.")
        }
        let made = secret(for: clientID, value: custom ?? UUID().uuidString.replacingOccurrences(of: "-", with: ""), &state)
        state.clients[clientID]!.secrets.append(made)
        var descriptor: [String: Any] = ["ClientSecretId": made.id, "ClientSecretCreateDate": made.created.timeIntervalSince1970]
        if custom == nil { descriptor["ClientSecretValue"] = made.value }
        return json(["ClientSecretDescriptor": descriptor])
    }

    static func delete(_ clientID: String, _ body: [String: Any], _ state: inout State) -> LoopbackHTTPServer.Reply {
        guard let id = body["ClientSecretId"] as? String else { return error(400, "InvalidParameterException", "ClientSecretId is required") }
        guard let index = state.clients[clientID]!.secrets.firstIndex(where: { $0.id == id }) else {
            return error(400, "ResourceNotFoundException", "Client secret \(id) does not exist.")
        }
        guard state.clients[clientID]!.secrets.count > 1 else {
            return error(400, "InvalidParameterException", "The last client secret of a client cannot be deleted.")
        }
        state.clients[clientID]!.secrets.remove(at: index)
        return json([:])
    }

    /// The app client, with its first secret's value as `ClientSecret` (as CreateUserPoolClient made it).
    static func describe(_ clientID: String, pool: String, _ state: State) -> LoopbackHTTPServer.Reply {
        let client = state.clients[clientID]!
        var described: [String: Any] = ["ClientId": clientID, "UserPoolId": pool, "ClientName": "rotor-stand-in",
                                        "AllowedOAuthFlows": client.clientCredentialsFlow ? ["client_credentials"] : [], "AllowedOAuthScopes": client.scopes]
        described["ClientSecret"] = client.secrets.first?.value
        return json(["UserPoolClient": described])
    }

    /// Ids are CLIENTID--CREATION-TIME in milliseconds; two secrets are never made in the same
    /// millisecond (the clock is waited on, never pushed ahead of the real time).
    public static func secret(for clientID: String, value: String, _ state: inout State) -> ClientSecret {
        var created = Date().timeIntervalSince1970
        while (created * 1000).rounded(.down) <= (state.lastCreated * 1000).rounded(.down) { created = Date().timeIntervalSince1970 }
        state.lastCreated = created
        state.everHeld.append(value)
        return ClientSecret(id: "\(clientID)--\(Int64(created * 1000))", value: value, created: Date(timeIntervalSince1970: created))
    }

    // MARK: SigV4

    func verifySignature(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Reply? {
        let headers = request.head.headers
        guard let authorization = headers.first(name: "Authorization"), let amzDate = headers.first(name: "X-Amz-Date") else {
            return Self.error(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        }
        let fields = Self.authorizationFields(authorization)
        let scope = (fields["Credential"] ?? "").split(separator: "/").map(String.init)
        guard authorization.hasPrefix("AWS4-HMAC-SHA256 "), scope.count == 5, let signedNames = fields["SignedHeaders"], let signature = fields["Signature"] else {
            return Self.error(400, "IncompleteSignatureException", "Authorization header requires Credential, SignedHeaders and Signature.")
        }
        guard scope[0] == accessKeyID else { return Self.error(400, "UnrecognizedClientException", "The security token included in the request is invalid.") }
        guard scope[3] == "cognito-idp", scope[2] == region, scope[4] == "aws4_request", amzDate.hasPrefix(scope[1]) else {
            return Self.error(400, "InvalidSignatureException", "Credential should be scoped to a valid region and service cognito-idp.")
        }
        guard let date = Self.amzDate(amzDate), abs(date.timeIntervalSinceNow) <= 15 * 60 else {
            return Self.error(400, "InvalidSignatureException", "Signature expired: \(amzDate) is now earlier or later than 15 minutes from now.")
        }
        let names = Set(signedNames.split(separator: ";").map(String.init))
        guard names.contains("host"), names.contains("x-amz-date") else {
            return Self.error(400, "InvalidSignatureException", "host and x-amz-date must be signed.")
        }
        let signedHeaders = headers.filter { names.contains($0.name.lowercased()) && !["authorization", "x-amz-date"].contains($0.name.lowercased()) }
        let unsigned = SigV4Signer.Request(method: request.head.method.rawValue, path: request.head.uri, headers: signedHeaders.map { ($0.name, $0.value) },
                                           body: request.body)
        let expected = SigV4Signer(region: region, service: "cognito-idp")
            .sign(unsigned, credentials: AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey), date: date)
            .headers.first { $0.name == "Authorization" }?.value ?? ""
        guard expected.hasSuffix("Signature=\(signature)") else {
            return Self.error(400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
        }
        return nil
    }

    static func authorizationFields(_ header: String) -> [String: String] {
        var fields: [String: String] = [:]
        for part in header.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        return fields
    }

    static func amzDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.date(from: text)
    }

    // MARK: Token endpoint

    func token(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Reply {
        state.withLock { $0.log.append("POST /oauth2/token") }
        guard request.head.method == .POST, request.head.headers.first(name: "Content-Type") == "application/x-www-form-urlencoded" else {
            return Self.oauth("invalid_request")
        }
        let form = Dictionary(String(decoding: request.body, as: UTF8.self).split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }, uniquingKeysWith: { first, _ in first })
        guard let basic = request.head.headers.first(name: "Authorization"), basic.hasPrefix("Basic "),
              let decoded = Data(base64Encoded: String(basic.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":") else { return Self.oauth("invalid_client") }
        let clientID = String(decoded[..<colon]), secret = String(decoded[decoded.index(after: colon)...])
        return state.withLock { state in
            guard let client = state.clients[clientID], client.secrets.contains(where: { $0.value == secret }) else { return Self.oauth("invalid_client") }
            guard form["grant_type"] == "client_credentials" else { return Self.oauth("unsupported_grant_type") }
            guard client.clientCredentialsFlow else { return Self.oauth("unauthorized_client") }
            if let scope = form["scope"], !scope.split(separator: " ").allSatisfy({ client.scopes.contains(String($0)) }) { return Self.oauth("invalid_scope") }
            return Self.json(["access_token": "eyJ.stand-in.\(UUID().uuidString)", "expires_in": 3600, "token_type": "Bearer"])
        }
    }

    static func oauth(_ code: String) -> LoopbackHTTPServer.Reply {
        .respond(status: 400, headers: [("Content-Type", "application/json")], body: Array(#"{"error":"\#(code)"}"#.utf8))
    }

    static func json(_ object: [String: Any]) -> LoopbackHTTPServer.Reply {
        .respond(status: 200, headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", UUID().uuidString)],
                 body: Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()))
    }

    public static func error(_ status: Int, _ type: String, _ message: String) -> LoopbackHTTPServer.Reply {
        .respond(status: status, headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", UUID().uuidString)],
                 body: Array((try? JSONSerialization.data(withJSONObject: ["__type": type, "message": message])) ?? Data()))
    }
}
