import Foundation
import MetricsTestKit
import Testing
import RotorCore
import RotorSecrets

/// Rotation-aware refresh (``SecretCache/invalidate(secret:)``) and the cache's counters.
@Suite struct SecretCacheNoticeTests {
    typealias Fixture = SecretCacheTests.Fixture
    let id = SecretCacheTests.id

    @Test func aNoticeDropsEveryEntryOfTheSecretSoTheNextReadSeesTheRotation() async throws {
        let fixture = try await Fixture()
        let byStage = SecretCache.Key(secretID: id.rawValue, stage: .current)
        #expect(try await fixture.read() == "value-1")
        #expect(try await fixture.read(byStage) == "value-1")
        try await fixture.rotate(to: "value-2")
        #expect(try await fixture.read() == "value-1") // within the TTL, as AWS's agent
        #expect(await fixture.cache.invalidate(secret: id) == 2)
        #expect(try await fixture.read() == "value-2")
        #expect(try await fixture.read(byStage) == "value-2")
        #expect(fixture.upstream.calls == ["GetSecretValue": 4])
    }

    @Test func aNoticeForAnotherSecretDropsNothing() async throws {
        let fixture = try await Fixture()
        _ = try await fixture.read()
        #expect(await fixture.cache.invalidate(secret: try SecretID("/prod/shop/api-key/other")) == 0)
        _ = try await fixture.read()
        #expect(fixture.upstream.calls == ["GetSecretValue": 1])
    }

    @Test func aFetchRunningWhenTheNoticeArrivesIsNotKeptAndNotJoined() async throws {
        let fixture = try await Fixture()
        fixture.upstream.hold()
        let early = Task { try await fixture.read() }
        while fixture.upstream.calls["GetSecretValue"] == nil { try await Task.sleep(for: .milliseconds(1)) }
        await fixture.cache.invalidate(secret: id)
        let late = Task { try await fixture.read() }
        while fixture.upstream.calls["GetSecretValue"] != 2 { try await Task.sleep(for: .milliseconds(1)) }
        fixture.upstream.gate.open()
        _ = try await (early.value, late.value)
        #expect(await fixture.cache.count == 1) // the late read's value, not the early one's
        _ = try await fixture.read()
        #expect(fixture.upstream.calls == ["GetSecretValue": 2])
    }

    @Test func readsAndUpstreamCallsAreCountedBySecretAndOutcomeWithAccessDeniedApart() async throws {
        let metrics = TestMetrics()
        let fixture = try await Fixture(metrics: metrics)
        _ = try await fixture.read()
        _ = try await fixture.read()
        fixture.clock.advance(by: 301)
        _ = try await fixture.read()
        fixture.upstream.fail(.denied)
        _ = try? await fixture.read(refreshNow: true)
        #expect(metrics.counterTotal(label: "rotor_secrets_reads_total", dimensions: [("result", "miss")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_reads_total", dimensions: [("result", "hit")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_reads_total", dimensions: [("result", "revalidated")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_reads_total", dimensions: [("result", "failed")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_retrievals_total", dimensions: [("secret", id.rawValue)]) == 3)
        #expect(metrics.counterTotal(label: "rotor_secrets_upstream_calls_total", dimensions: [("api", "GetSecretValue"), ("outcome", "ok")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_upstream_calls_total", dimensions: [("api", "DescribeSecret"), ("outcome", "ok")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_upstream_calls_total", dimensions: [("api", "GetSecretValue"), ("outcome", "access-denied")]) == 1)
        #expect(metrics.counterTotal(label: "rotor_secrets_access_denied_total", dimensions: [("api", "GetSecretValue")]) == 1)
    }
}

@Suite struct SecretCacheTimeoutTests {
    @Test func aSlowUpstreamCountsAsTransientAndTheCachedValueIsServed() async throws {
        let fixture = try await SecretCacheTests.Fixture(SecretCache.Configuration(ttl: 1, upstreamTimeout: .milliseconds(50)))
        #expect(try await fixture.read() == "value-1")
        fixture.clock.advance(by: 2)
        fixture.upstream.hold()
        #expect(try await fixture.read(refreshNow: false) == "value-1") // DescribeSecret is not held: revalidated
        fixture.clock.advance(by: 2)
        let error = await #expect(throws: SecretCacheError.self) { try await fixture.read(refreshNow: true) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("GetSecretValue took longer than"))
        fixture.upstream.gate.open()
    }
}
