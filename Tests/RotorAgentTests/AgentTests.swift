import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing
import RotorAgent
import RotorCore
import RotorSecrets
import RotorTestSupport

/// `rotor agent`'s configuration and HTTP API, in process: AWS's agent's keys, defaults and
/// limits; its checks in order (token, X-Forwarded-For, method, route), parameters and answers.
@Suite struct AgentConfigurationTests {
    @Test func anEmptyFileGivesAWSsDefaults() throws {
        let configuration = try AgentConfiguration.parse("", file: "agent.toml")
        #expect(configuration == AgentConfiguration())
        #expect(configuration.httpPort == 2773 && configuration.ttlSeconds == 300 && configuration.cacheSize == 1000 && configuration.maxConnections == 800)
        #expect(configuration.ssrfHeaders == ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"] && configuration.pathPrefix == "/v1/")
    }

    @Test func everyKeyIsRead() throws {
        let configuration = try AgentConfiguration.parse("""
            log_level = "debug"
            http_port = 0
            ttl_seconds = 60
            cache_size = 10
            max_conn = 5
            ssrf_headers = ["X-My-Token"]
            ssrf_env_variables = ["MY_TOKEN"]
            path_prefix = "/secrets/"
            region = "eu-west-1"
            ignore_transient_errors = false
            max_staleness_seconds = 120
            """, file: "agent.toml")
        #expect(configuration.logLevel == .debug && configuration.httpPort == 0 && configuration.ttlSeconds == 60 && configuration.cacheSize == 10)
        #expect(configuration.maxConnections == 5 && configuration.ssrfHeaders == ["X-My-Token"] && configuration.ssrfEnvironmentVariables == ["MY_TOKEN"])
        #expect(configuration.pathPrefix == "/secrets/" && configuration.region == "eu-west-1" && !configuration.ignoreTransientErrors && configuration.maxStalenessSeconds == 120)
    }

    @Test(arguments: [
        ("ttl = 5", "unknown key 'ttl'"),
        ("ttl_seconds = 3601", "'ttl_seconds' must be a whole number from 0 to 3600"),
        ("ttl_seconds = \"300\"", "'ttl_seconds' must be a whole number"),
        ("cache_size = 0", "'cache_size' must be a whole number from 1 to 1000"),
        ("max_conn = 1001", "'max_conn' must be a whole number from 1 to 1000"),
        ("http_port = 80", "'http_port' must be from 1024 to 65535"),
        ("log_level = \"LOUD\"", "'log_level' is 'LOUD'"),
        ("ssrf_headers = []", "'ssrf_headers' must be a non-empty list"),
        ("path_prefix = \"v1/\"", "'path_prefix' must start with '/'"),
        ("ignore_transient_errors = 1", "'ignore_transient_errors' must be true or false"),
        ("log_to_file = true", "'log_to_file = true' is not supported"),
        ("validate_credentials = true", "not supported yet"),
        ("ttl_seconds = = 3", "line 1"),
        ("ssrf_headers = [\"Authorization\"]", "clients never send on their own"),
        ("ssrf_headers = [\"X Token\"]", "clients never send on their own"),
    ])
    func badFilesNameTheKey(text: String, message: String) {
        let error = #expect(throws: RotorError.self) { try AgentConfiguration.parse(text, file: "agent.toml") }
        #expect(error?.summary.contains(message) == true, "\(error?.summary ?? "")")
    }

    @Test func theTokenComesFromTheFirstVariableSetOrItsFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("agent-token-\(UUID().uuidString)")
        try "  from-a-file\n".write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try SSRFToken.resolve(variables: ["AWS_TOKEN", "AWS_SESSION_TOKEN"], environment: ["AWS_SESSION_TOKEN": "file://\(file.path)"])
        #expect("\(fromFile)".contains("redacted") && !"\(fromFile)".contains("from-a-file"))
        #expect(throws: RotorError.self) { try SSRFToken.resolve(variables: ["AWS_TOKEN"], environment: [:]) }
        #expect(throws: RotorError.self) { try SSRFToken.resolve(variables: ["AWS_TOKEN"], environment: ["AWS_TOKEN": "file:///nonexistent/token"]) }
    }
}

@Suite struct AgentRoutesTests {
    static let id = try! SecretID("/prod/shop/api-key/vendor")
    static let token = "agent-test-token"

    func withAgent(
        scope: EnvironmentScope = .all, store: InMemorySecretStore = InMemorySecretStore(), notices: NoticeSigner? = nil,
        metrics: PrometheusCollectorRegistry? = nil, _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        _ = try await store.createSecret(CreateSecretInput(id: Self.id, initialValue: SecretValue(string: "vendor-key-1")))
        let token = try SSRFToken.resolve(variables: ["AWS_TOKEN"], environment: ["AWS_TOKEN": Self.token])
        let cache = SecretCache(store: store, metrics: metrics.map { PrometheusMetricsFactory(registry: $0) })
        let routes = AgentRoutes(cache: cache, token: token, configuration: AgentConfiguration(), scope: scope, notices: notices, metrics: metrics)
        try await Application(router: routes.router()).test(.router, body)
    }

    static func headers(token: String? = AgentRoutesTests.token, _ extra: [(String, String)] = []) -> HTTPFields {
        var fields = HTTPFields()
        if let token { fields[HTTPField.Name("X-Aws-Parameters-Secrets-Token")!] = token }
        for (name, value) in extra { fields[HTTPField.Name(name)!] = value }
        return fields
    }

    @Test func checksComeInAWSsOrder() async throws {
        try await withAgent { client in
            try await client.execute(uri: "/ping", method: .get) { #expect($0.status == .ok && String(buffer: $0.body) == "healthy") }
            try await client.execute(uri: "/v1/prod/shop/api-key/vendor", method: .get) { #expect($0.status == .forbidden && String(buffer: $0.body) == "Bad Token") }
            try await client.execute(uri: "/v1/prod/shop/api-key/vendor", method: .get, headers: Self.headers(token: "wrong")) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/prod/shop/api-key/vendor", method: .get, headers: Self.headers([("X-Forwarded-For", "10.0.0.1")])) {
                #expect($0.status == .badRequest && String(buffer: $0.body) == "Forwarded")
            }
            try await client.execute(uri: "/v1/prod/shop/api-key/vendor", method: .post, headers: Self.headers()) { #expect($0.status == .methodNotAllowed) }
            try await client.execute(uri: "/elsewhere", method: .get, headers: Self.headers()) { #expect($0.status == .notFound && String(buffer: $0.body) == "Not found") }
        }
    }

    @Test func parametersAreChecked() async throws {
        try await withAgent { client in
            for (uri, message) in [
                ("/secretsmanager/get", "missing parameter secretId"), ("/v1/", "missing secret ID"),
                ("/v1/prod/shop/api-key/vendor?stage=AWSCURRENT", "unknown parameter: stage"),
                ("/secretsmanager/get?secretId=/prod/shop/api-key/vendor&refreshNow=maybe", "invalid refreshNow value"),
            ] {
                try await client.execute(uri: uri, method: .get, headers: Self.headers()) { response in
                    #expect(response.status == .badRequest && String(buffer: response.body) == message, "\(uri)")
                }
            }
        }
    }

    @Test func aSecretComesBackInGetSecretValuesShape() async throws {
        try await withAgent { client in
            for uri in ["/secretsmanager/get?secretId=/prod/shop/api-key/vendor", "/v1/prod/shop/api-key/vendor?versionStage=AWSCURRENT&refreshNow=TRUE",
                        "/v1/%2Fprod%2Fshop%2Fapi-key%2Fvendor"] {
                try await client.execute(uri: uri, method: .get, headers: Self.headers()) { response in
                    #expect(response.status == .ok, "\(uri)")
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [String: Any])
                    #expect(body["Name"] as? String == Self.id.rawValue && body["SecretString"] as? String == "vendor-key-1")
                    #expect(body["VersionStages"] as? [String] == ["AWSCURRENT"] && (body["CreatedDate"] as? String)?.contains(".") == true)
                    #expect(body.keys.contains("ARN") && body["VersionId"] is String && body["SecretBinary"] == nil)
                }
            }
            try await client.execute(uri: "/v1/prod/shop/api-key/missing", method: .get, headers: Self.headers()) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("\"__type\":\"ResourceNotFoundException\""))
            }
        }
    }

    @Test func anAgentOfOneEnvironmentAnswersNoOtherOnesSecrets() async throws {
        try await withAgent(scope: .only(try Environment("staging"))) { client in
            for uri in ["/v1/prod/shop/api-key/vendor", "/secretsmanager/get?secretId=arn:aws:secretsmanager:us-east-1:123456789012:secret:/prod/shop/api-key/vendor-AbCdEf"] {
                try await client.execute(uri: uri, method: .get, headers: Self.headers()) { response in
                    #expect(response.status == .badRequest && String(buffer: response.body).contains("ResourceNotFoundException"), "\(uri)")
                    #expect(!String(buffer: response.body).contains("vendor-key-1"))
                }
            }
        }
    }

    @Test func anyConfiguredTokenHeaderMayCarryIt() async throws {
        try await withAgent { client in
            var both = Self.headers(token: "wrong")
            both[HTTPField.Name("X-Vault-Token")!] = Self.token
            try await client.execute(uri: "/v1/prod/shop/api-key/vendor", method: .get, headers: both) { #expect($0.status == .ok) }
            try await client.execute(uri: "/ping", method: .get, headers: Self.headers(token: nil, [("X-Forwarded-For", "10.0.0.1")])) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/prod/shop/api-key/vendor?versionStage=AWSCURRENT&versionStage=AWSPREVIOUS", method: .get, headers: Self.headers()) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v1/" + String(repeating: "a", count: 2100), method: .get, headers: Self.headers()) { #expect($0.status == .badRequest) }
        }
    }
}
