import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import Prometheus
import Testing
@testable import RotorAgent
import RotorCore
import RotorSecrets

/// Rotation notices (signed POSTs that drop a secret's cached value), the agent's `/metrics`, and
/// the registration directory rotor reads to find the agents.
@Suite struct AgentNoticeTests {
    let id = AgentRoutesTests.id
    let read = "/v1/prod/shop/api-key/vendor"

    func notice(_ signer: NoticeSigner, at date: Date = Date(), body: String? = nil) -> (HTTPFields, ByteBuffer) {
        let text = body ?? #"{"secretId":"/prod/shop/api-key/vendor","versionId":"v2"}"#
        var headers = HTTPFields()
        headers[HTTPField.Name(NoticeSigner.header)!] = signer.signature(body: Array(text.utf8), at: date)
        return (headers, ByteBuffer(string: text))
    }

    @Test func aSignedNoticeMakesTheNextReadSeeTheRotationBeforeTheTTL() async throws {
        let store = InMemorySecretStore()
        let signer = NoticeSigner.random()
        try await AgentRoutesTests().withAgent(store: store, notices: signer) { client in
            let value = { (response: TestResponse) in String(buffer: response.body).contains("vendor-key-2") }
            try await client.execute(uri: read, method: .get, headers: AgentRoutesTests.headers()) { #expect($0.status == .ok) }
            try await store.putSecretValue(PutSecretValueInput(id: id, token: VersionID("v2"), value: SecretValue(string: "vendor-key-2"), stages: nil))
            try await client.execute(uri: read, method: .get, headers: AgentRoutesTests.headers()) { #expect(!value($0)) }
            let (headers, body) = notice(signer)
            try await client.execute(uri: RotationNotice.path, method: .post, headers: headers, body: body) { #expect($0.status == .noContent) }
            try await client.execute(uri: read, method: .get, headers: AgentRoutesTests.headers()) { #expect(value($0)) }
        }
    }

    @Test func aNoticeWithABadOrOldSignatureIsRefusedAndDropsNothing() async throws {
        let signer = NoticeSigner.random()
        try await AgentRoutesTests().withAgent(notices: signer) { client in
            for (headers, body) in [
                notice(NoticeSigner.random()), notice(signer, at: Date().addingTimeInterval(-400)), (HTTPFields(), ByteBuffer(string: "{}")),
            ] {
                try await client.execute(uri: RotationNotice.path, method: .post, headers: headers, body: body) {
                    #expect($0.status == .forbidden && String(buffer: $0.body) == "Bad Signature")
                }
            }
            var (headers, _) = notice(signer)
            headers[HTTPField.Name("X-Forwarded-For")!] = "10.0.0.1"
            try await client.execute(uri: RotationNotice.path, method: .post, headers: headers, body: ByteBuffer(string: "{}")) { #expect($0.status == .badRequest) }
            let (signed, junk) = notice(signer, body: "not json")
            try await client.execute(uri: RotationNotice.path, method: .post, headers: signed, body: junk) { #expect($0.status == .badRequest) }
        }
    }

    @Test func withoutNoticesTheRouteIsNotThere() async throws {
        try await AgentRoutesTests().withAgent { client in
            let (headers, body) = notice(NoticeSigner.random())
            try await client.execute(uri: RotationNotice.path, method: .post, headers: headers, body: body) { #expect($0.status == .notFound) }
        }
    }

    @Test func metricsNeedTheTokenAndCountReadsBySecretWithoutValuesOrTokens() async throws {
        let registry = PrometheusCollectorRegistry()
        try await AgentRoutesTests().withAgent(metrics: registry) { client in
            for _ in 0..<3 { try await client.execute(uri: read, method: .get, headers: AgentRoutesTests.headers()) { #expect($0.status == .ok) } }
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/metrics", method: .get, headers: AgentRoutesTests.headers()) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"rotor_secrets_reads_total{result="hit"} 2"#))
                #expect(text.contains(#"rotor_secrets_reads_total{result="miss"} 1"#))
                #expect(text.contains(#"rotor_secrets_retrievals_total{secret="/prod/shop/api-key/vendor"} 3"#))
                #expect(text.contains(#"rotor_secrets_upstream_calls_total{api="GetSecretValue",outcome="ok"} 1"#))
                #expect(!text.contains("vendor-key-1") && !text.contains(AgentRoutesTests.token))
            }
        }
    }

    @Test func registrationsArePrivateLockedAndGoWithTheirAgent() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("agents-\(UUID().uuidString)")
        let directory = AgentDirectory(url: home)
        let hold = try directory.register(port: 4321, signer: .random())
        let mode = { (path: String) in (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue }
        #expect(try mode(home.path) == 0o700 && mode(hold.url.path) == 0o600)
        #expect(directory.registrations().map(\.port) == [4321])
        // A file nobody holds is an agent that is gone (killed): it is skipped and removed.
        let orphan = home.appendingPathComponent("agent-orphan.json")
        try FileManager.default.copyItem(at: hold.url, to: orphan)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: orphan.path)
        #expect(directory.registrations().count == 1 && !FileManager.default.fileExists(atPath: orphan.path))
        // Symbolic links and files others can read are not trusted.
        try FileManager.default.createSymbolicLink(at: home.appendingPathComponent("agent-link.json"), withDestinationURL: hold.url)
        #expect(directory.registrations().count == 1)
        hold.release()
        #expect(directory.registrations().isEmpty && !FileManager.default.fileExists(atPath: hold.url.path))
        // A directory others can read or write is not trusted at all.
        _ = try directory.register(port: 4322, signer: .random())
        try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: home.path)
        #expect(directory.registrations().isEmpty)
        #expect(throws: RotorError.self) { try directory.register(port: 4321, signer: .random()) }
        try FileManager.default.removeItem(at: home)
    }
}

/// ``SecretsClient`` in front of a live agent over loopback HTTP.
@Suite struct SecretsClientThroughAgentTests {
    @Test func theClientReadsThroughTheAgentWithItsToken() async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: AgentRoutesTests.id, initialValue: SecretValue(string: #"{"apiKey":"sk-CANARY","model":"m"}"#)))
        let token = try SSRFToken.resolve(variables: ["AWS_TOKEN"], environment: ["AWS_TOKEN": AgentRoutesTests.token])
        let routes = AgentRoutes(cache: SecretCache(store: store), token: token, configuration: AgentConfiguration())
        let app = Application(router: routes.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let url = URL(string: "http://127.0.0.1:\(port)")!
            let client = SecretsClient(agent: try AgentUpstream(url: url, token: SecretValue(string: AgentRoutesTests.token)))
            let key = try await client.decode(ServiceAPIKey.self, AgentRoutesTests.id.rawValue)
            #expect(key.apiKey.exposedString == "sk-CANARY" && key.model == "m")
            let missing = await #expect(throws: RotorError.self) { try await client.value("/prod/shop/api-key/missing") }
            #expect(missing?.code == .secretNotFound)
            let wrongToken = SecretsClient(agent: try AgentUpstream(url: url, token: SecretValue(string: "wrong")))
            let denied = await #expect(throws: RotorError.self) { try await wrongToken.value(AgentRoutesTests.id.rawValue) }
            #expect(denied?.code == .accessDenied)
        }
    }
}

/// The hand-written response body says exactly what JSONSerialization would.
@Suite struct AgentResponseEncodingTests {
    @Test(arguments: ["plain", "quote \" back\\slash / slash", "line\nfeed\ttab\r\u{1}\u{1F}", "ünïcödé 🔑", "{\"json\":[1,2]}"])
    func theBodyParsesToGetSecretValuesShape(text: String) throws {
        let value = SecretVersionValue(secret: AgentRoutesTests.id, versionID: VersionID("v-1"), stages: [.current, .previous],
                                       value: SecretValue(string: text), createdAt: Date(timeIntervalSince1970: 1_800_000_000.25))
        let buffer = AgentResponse.encoded(value)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
        #expect(parsed["SecretString"] as? String == text && parsed["Name"] as? String == AgentRoutesTests.id.rawValue)
        #expect(parsed["VersionStages"] as? [String] == ["AWSCURRENT", "AWSPREVIOUS"] && parsed["CreatedDate"] as? String == "1800000000.250")
        #expect(parsed["ARN"] is NSNull && parsed["VersionId"] as? String == "v-1")
        let binary = SecretVersionValue(secret: AgentRoutesTests.id, versionID: VersionID("v-2"), stages: [.current], value: SecretValue(bytes: [0, 1, 255]), createdAt: Date())
        let parsedBinary = try #require(try JSONSerialization.jsonObject(with: Data(AgentResponse.encoded(binary).readableBytesView)) as? [String: Any])
        #expect(parsedBinary["SecretBinary"] as? String == "AAH/" && parsedBinary["SecretString"] == nil)
    }
}

/// `--report-to`: the report token only over HTTPS or to a loopback address, never to a name that
/// merely starts like one.
@Suite struct AccessReporterURLTests {
    @Test func reportsGoOnlyOverTLSOrToLoopback() throws {
        let logger = Logger(label: "t")
        for good in ["https://rotor.internal:8443", "http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080"] {
            #expect(throws: Never.self, "\(good)") { _ = try AccessReporter(daemon: URL(string: good)!, token: "t", reader: "shop@prod", logger: logger) }
        }
        for bad in ["http://127.0.0.1.evil.com:8080", "http://127.attacker.net", "http://10.0.0.5:8080", "https://user:pw@rotor.internal", "ftp://127.0.0.1"] {
            #expect(throws: RotorError.self, "\(bad)") { _ = try AccessReporter(daemon: URL(string: bad)!, token: "t", reader: "shop@prod", logger: logger) }
        }
        #expect(throws: RotorError.self) { _ = try AccessReporter(daemon: URL(string: "http://127.0.0.1:1")!, token: "", reader: "shop@prod", logger: logger) }
        #expect(throws: RotorError.self) { _ = try AccessReporter(daemon: URL(string: "http://127.0.0.1:1")!, token: "t", reader: "shop", logger: logger) }
    }
}
