import CoreMetrics
import Foundation
import Synchronization
import Testing
import RotorCore
import RotorSecrets
import RotorTestSupport

/// The cache's semantics, AWS's agent's where it has them: hits, revalidation by DescribeSecret,
/// refreshNow, transient errors and the maximum staleness, single flight, eviction, keys.
@Suite struct SecretCacheTests {
    static let id = try! SecretID("/prod/shop/api-key/vendor")

    /// Counts upstream calls and fails them on demand; a gate can hold GetSecretValue.
    final class Upstream: ForwardingSecretStore, @unchecked Sendable {
        enum Failure { case none, transient, denied }
        let base: any SecretStore
        private let state = Mutex<(calls: [String: Int], failure: Failure, held: Bool)>(([:], .none, false))
        let gate = Gate()
        init(_ base: any SecretStore) { self.base = base }

        var calls: [String: Int] { state.withLock { $0.calls } }
        func fail(_ failure: Failure) { state.withLock { $0.failure = failure } }
        func hold() { state.withLock { $0.held = true } }

        private func call(_ api: String, _ id: SecretID) throws {
            let failure = state.withLock { state in
                state.calls[api, default: 0] += 1
                return state.failure
            }
            switch failure {
            case .none: break
            case .transient: throw RotorError(.transient, "Service Unavailable (HTTP 503)", secret: id, isTransient: true)
            case .denied: throw RotorError(.accessDenied, "AccessDeniedException", secret: id)
            }
        }

        func describeSecret(_ id: SecretID) async throws -> SecretDescription {
            try call("DescribeSecret", id)
            return try await base.describeSecret(id)
        }

        func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue {
            try call("GetSecretValue", id)
            if state.withLock({ $0.held }) { await gate.wait() }
            return try await base.getSecretValue(id, selector)
        }
    }

    struct Fixture {
        let clock = TestClock()
        let upstream: Upstream
        let cache: SecretCache

        init(_ configuration: SecretCache.Configuration = SecretCache.Configuration(), metrics: (any MetricsFactory)? = nil) async throws {
            let store = InMemorySecretStore(clock: clock)
            _ = try await store.createSecret(CreateSecretInput(id: SecretCacheTests.id, initialValue: SecretValue(string: "value-1")))
            upstream = Upstream(store)
            cache = SecretCache(store: upstream, clock: clock, configuration: configuration, metrics: metrics)
        }

        func read(_ key: SecretCache.Key = SecretCache.Key(secretID: SecretCacheTests.id.rawValue), refreshNow: Bool = false) async throws -> String {
            try await cache.value(key, refreshNow: refreshNow).value.exposedString ?? ""
        }

        func rotate(to value: String) async throws {
            try await upstream.base.putSecretValue(PutSecretValueInput(id: SecretCacheTests.id, token: VersionID(UUID().uuidString.lowercased()),
                                                                      value: SecretValue(string: value), stages: nil))
        }
    }

    @Test func aHitWithinTheTTLCallsNothing() async throws {
        let fixture = try await Fixture()
        #expect(try await fixture.read() == "value-1")
        fixture.clock.advance(by: 299)
        #expect(try await fixture.read() == "value-1")
        #expect(fixture.upstream.calls == ["GetSecretValue": 1])
    }

    @Test func anExpiredEntryWhoseVersionStillHoldsTheLabelIsRevalidatedNotRefetched() async throws {
        let fixture = try await Fixture()
        _ = try await fixture.read()
        fixture.clock.advance(by: 301)
        #expect(try await fixture.read() == "value-1")
        fixture.clock.advance(by: 200)
        #expect(try await fixture.read() == "value-1")
        #expect(fixture.upstream.calls == ["GetSecretValue": 1, "DescribeSecret": 1])
    }

    @Test func aRotationIsSeenAtTheFirstReadAfterTheTTL() async throws {
        let fixture = try await Fixture()
        _ = try await fixture.read()
        try await fixture.rotate(to: "value-2")
        #expect(try await fixture.read() == "value-1")
        fixture.clock.advance(by: 301)
        #expect(try await fixture.read() == "value-2")
        #expect(fixture.upstream.calls == ["GetSecretValue": 2, "DescribeSecret": 1])
    }

    @Test func aZeroTTLRevalidatesEveryRead() async throws {
        let fixture = try await Fixture(SecretCache.Configuration(ttl: 0))
        for _ in 0..<3 { _ = try await fixture.read() }
        #expect(fixture.upstream.calls == ["GetSecretValue": 1, "DescribeSecret": 2])
    }

    @Test func refreshNowAlwaysFetchesAndNeverFallsBack() async throws {
        let fixture = try await Fixture()
        _ = try await fixture.read()
        try await fixture.rotate(to: "value-2")
        #expect(try await fixture.read(refreshNow: true) == "value-2")
        fixture.upstream.fail(.transient)
        await #expect(throws: RotorError.self) { _ = try await fixture.read(refreshNow: true) }
        fixture.upstream.fail(.none)
        #expect(try await fixture.read() == "value-2")
    }

    @Test func aTransientErrorServesTheCachedValueUntilTheMaximumStaleness() async throws {
        let fixture = try await Fixture(SecretCache.Configuration(ttl: 300, maxStaleness: 1000))
        _ = try await fixture.read()
        fixture.upstream.fail(.transient)
        fixture.clock.advance(by: 301)
        #expect(try await fixture.read() == "value-1")
        // Re-stamped: within the new TTL, no upstream call at all.
        let calls = fixture.upstream.calls
        fixture.clock.advance(by: 100)
        #expect(try await fixture.read() == "value-1" && fixture.upstream.calls == calls)
        fixture.clock.advance(by: 600)
        // Within the TTL of the last stale serve, but past the maximum staleness: not served.
        await #expect(throws: SecretCacheError.self) { _ = try await fixture.read() }
        fixture.upstream.fail(.none)
        #expect(try await fixture.read() == "value-1")
    }

    @Test func withoutIgnoringTransientErrorsTheErrorGoesToTheCaller() async throws {
        let fixture = try await Fixture(SecretCache.Configuration(ignoreTransientErrors: false))
        _ = try await fixture.read()
        fixture.upstream.fail(.transient)
        fixture.clock.advance(by: 301)
        await #expect(throws: RotorError.self) { _ = try await fixture.read() }
    }

    @Test func aPermanentErrorGoesToTheCallerAndTheEntryStays() async throws {
        let fixture = try await Fixture()
        _ = try await fixture.read()
        fixture.upstream.fail(.denied)
        fixture.clock.advance(by: 301)
        let error = await #expect(throws: RotorError.self) { _ = try await fixture.read() }
        #expect(error?.code == .accessDenied)
        fixture.upstream.fail(.none)
        #expect(try await fixture.read() == "value-1" && fixture.upstream.calls["GetSecretValue"] == 1)
    }

    @Test func concurrentMissesMakeOneUpstreamCall() async throws {
        let fixture = try await Fixture()
        fixture.upstream.hold()
        let reads = Task {
            try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 { group.addTask { try await fixture.read() } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
        }
        while fixture.upstream.calls["GetSecretValue"] == nil { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(20))
        fixture.upstream.gate.open()
        let values = try await reads.value
        #expect(values.count == 20 && values.allSatisfy { $0 == "value-1" })
        #expect(fixture.upstream.calls == ["GetSecretValue": 1])
    }

    @Test func pastItsCapacityTheEntryWrittenLongestAgoGoes() async throws {
        let fixture = try await Fixture(SecretCache.Configuration(capacity: 2))
        let keys = [nil, StagingLabel.current, StagingLabel.previous].map { SecretCache.Key(secretID: Self.id.rawValue, stage: $0) }
        try await fixture.rotate(to: "value-2")
        for key in keys { _ = try await fixture.read(key) }
        let entries = await fixture.cache.count
        #expect(entries == 2)
        // The first key (written first) was evicted: reading it again goes upstream.
        let before = fixture.upstream.calls["GetSecretValue"] ?? 0
        _ = try await fixture.read(keys[0])
        #expect(fixture.upstream.calls["GetSecretValue"] == before + 1)
    }

    @Test func aNameAnARNAndAnExplicitStageAreSeparateEntries() async throws {
        let fixture = try await Fixture()
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:\(Self.id.rawValue)-AbCdEf"
        for key in [SecretCache.Key(secretID: Self.id.rawValue), SecretCache.Key(secretID: arn), SecretCache.Key(secretID: Self.id.rawValue, stage: .current)] {
            #expect(try await fixture.read(key) == "value-1")
        }
        let entries = await fixture.cache.count
        #expect(fixture.upstream.calls["GetSecretValue"] == 3 && entries == 3)
    }

    @Test func aVersionIDAloneStaysValidWhileTheVersionExists() async throws {
        let fixture = try await Fixture()
        let first = try await fixture.cache.value(SecretCache.Key(secretID: Self.id.rawValue))
        let pinned = SecretCache.Key(secretID: Self.id.rawValue, versionID: first.versionID)
        _ = try await fixture.read(pinned)
        try await fixture.rotate(to: "value-2")
        fixture.clock.advance(by: 301)
        #expect(try await fixture.read(pinned) == "value-1")
        #expect(fixture.upstream.calls["GetSecretValue"] == 2 && fixture.upstream.calls["DescribeSecret"] == 1)
    }

    @Test func pendingReadsAreNeverCached() async throws {
        let fixture = try await Fixture()
        try await fixture.upstream.base.putSecretValue(PutSecretValueInput(id: Self.id, token: "pending-version-token-0000000000000000",
                                                                            value: SecretValue(string: "value-pending"), stages: [.pending]))
        let pending = SecretCache.Key(secretID: Self.id.rawValue, stage: .pending)
        #expect(try await fixture.read(pending) == "value-pending")
        #expect(try await fixture.read(pending) == "value-pending")
        let entries = await fixture.cache.count
        #expect(fixture.upstream.calls["GetSecretValue"] == 2 && entries == 0)
    }
}
