import Foundation
import MetricsTestKit
import Testing
import RotorCore
import RotorSecrets
import RotorTestSupport

/// The in-process client: typed shapes kept decoded, the TTL, revalidation without re-decoding,
/// invalidation, the key ring, and errors and descriptions that never show a value.
@Suite struct SecretsClientTests {
    static let database = try! SecretID("/prod/orders/database/app")
    static let key = try! SecretID("/prod/orders/encryption-key/data")
    static let canary = "CANARY-client-password"

    struct Fixture {
        let clock = TestClock()
        let store: InMemorySecretStore
        let upstream: SecretCacheTests.Upstream
        let client: SecretsClient
        let metrics = TestMetrics()

        init(ttl: TimeInterval = 300) async throws {
            store = InMemorySecretStore(clock: clock)
            upstream = SecretCacheTests.Upstream(store)
            client = SecretsClient(store: upstream, configuration: SecretsClient.Configuration(ttl: ttl), clock: clock, metrics: metrics)
        }

        func create(_ id: SecretID, _ value: SecretValue) async throws {
            _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: value))
        }

        func rotate(_ id: SecretID, to value: SecretValue) async throws -> VersionID {
            let version = VersionID(UUID().uuidString.lowercased())
            try await store.putSecretValue(PutSecretValueInput(id: id, token: version, value: value, stages: [.pending]))
            let current = try await store.describeSecret(id).versionIDsToStages.first { $0.value.contains(.current) }!.key
            try await store.updateSecretVersionStage(UpdateVersionStageInput(id: id, stage: .current, moveTo: version, removeFrom: current))
            return version
        }
    }

    static func credentials(password: String) -> SecretValue {
        SecretValue(string: #"{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"\#(password)","dbname":"orders"}"#)
    }

    @Test func aDecodedValueIsServedFromMemoryWithinTheTTLThenRevalidatedWithoutRefetching() async throws {
        let fixture = try await Fixture()
        try await fixture.create(Self.database, Self.credentials(password: Self.canary))
        let first = try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue)
        #expect(first.host == "db.internal" && first.port == 5432 && first.password.exposedString == Self.canary)
        for _ in 0..<100 { _ = try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue) }
        #expect(fixture.upstream.calls == ["GetSecretValue": 1])
        #expect(fixture.metrics.counterTotal(label: "rotor_secrets_client_hits_total") == 100)
        fixture.clock.advance(by: 301)
        _ = try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue)
        #expect(fixture.upstream.calls == ["GetSecretValue": 1, "DescribeSecret": 1])
    }

    @Test func aRotationIsSeenAfterTheTTLOrAtOnceWhenInvalidated() async throws {
        let fixture = try await Fixture()
        try await fixture.create(Self.database, Self.credentials(password: "one"))
        _ = try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue)
        _ = try await fixture.rotate(Self.database, to: Self.credentials(password: "two"))
        #expect(try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue).password.exposedString == "one")
        await fixture.client.invalidate(secret: Self.database)
        #expect(try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue).password.exposedString == "two")
        _ = try await fixture.rotate(Self.database, to: Self.credentials(password: "three"))
        fixture.clock.advance(by: 301)
        #expect(try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue).password.exposedString == "three")
    }

    @Test func aValueOfTheWrongShapeNamesTheFieldNotTheValue() async throws {
        let fixture = try await Fixture()
        try await fixture.create(Self.database, SecretValue(string: #"{"host":"db","username":"app","pass":"\#(Self.canary)"}"#))
        let error = await #expect(throws: SecretsClientError.self) { try await fixture.client.decode(DatabaseCredentials.self, Self.database.rawValue) }
        #expect("\(error!)".contains("field 'password' is missing") && !"\(error!)".contains(Self.canary))
        let credentials = try DatabaseCredentials.decode(SecretVersionValue(
            secret: Self.database, versionID: VersionID("v"), stages: [.current], value: Self.credentials(password: Self.canary), createdAt: Date()))
        #expect(!"\(credentials)".contains(Self.canary) && !String(reflecting: credentials).contains(Self.canary))
    }

    @Test func theKeyRingHoldsTheCurrentAndPreviousKeys() async throws {
        let fixture = try await Fixture()
        let first = [UInt8](repeating: 1, count: 32)
        try await fixture.create(Self.key, SecretValue(bytes: first))
        let alone = try await fixture.client.keyRing(Self.key.rawValue)
        #expect(alone.previous == nil && alone.current.bytes.exposedBytes == first)
        let version = try await fixture.rotate(Self.key, to: SecretValue(bytes: [UInt8](repeating: 2, count: 32)))
        await fixture.client.invalidate(secret: Self.key)
        let ring = try await fixture.client.keyRing(Self.key.rawValue)
        #expect(ring.current.version == version && ring.previous?.bytes.exposedBytes == first)
        #expect(ring.key(version: alone.current.version)?.bytes.exposedBytes == first && ring.keys.count == 2)
        #expect(!"\(ring)".contains("\u{1}") && "\(ring.current)".contains("redacted"))
    }

    @Test func anAgentURLOffLoopbackIsRefused() {
        #expect(throws: RotorError.self) { try AgentUpstream(url: URL(string: "http://10.0.0.5:2773")!, token: SecretValue(string: "t")) }
        #expect(throws: RotorError.self) { try AgentUpstream(url: URL(string: "https://127.0.0.1:2773")!, token: SecretValue(string: "t")) }
    }
}
