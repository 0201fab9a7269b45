import Foundation
import Testing
import RotorCore
import RotorSecrets
import RotorTestSupport

/// The breaker as a pure function of outcomes and time, and the cache behind it.
@Suite struct CircuitBreakerTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func itOpensAfterTheThresholdProbesAfterTheCoolDownAndClosesOnSuccess() {
        var breaker = CircuitBreaker(threshold: 3, coolDown: Backoff(initial: .seconds(10), maximum: .seconds(60), jitter: .none))
        for _ in 0..<2 { breaker.record(transientFailure: true, now: start, unit: 0.5) }
        #expect(breaker.admit(now: start) == .allowed)
        breaker.record(transientFailure: true, now: start, unit: 0.5)
        #expect(breaker.state == .open(until: start.addingTimeInterval(10), openings: 1))
        #expect(breaker.admit(now: start.addingTimeInterval(9)) == .rejected(until: start.addingTimeInterval(10)))
        #expect(breaker.admit(now: start.addingTimeInterval(10)) == .probe)
        #expect(breaker.admit(now: start.addingTimeInterval(10)) == .rejected(until: start.addingTimeInterval(10)))
        // The probe fails: open again, for twice as long.
        breaker.record(transientFailure: true, now: start.addingTimeInterval(10), unit: 0.5)
        #expect(breaker.state == .open(until: start.addingTimeInterval(30), openings: 2))
        #expect(breaker.admit(now: start.addingTimeInterval(30)) == .probe)
        breaker.record(transientFailure: false, now: start.addingTimeInterval(30), unit: 0.5)
        #expect(breaker.state == .closed(failures: 0) && breaker.admit(now: start.addingTimeInterval(30)) == .allowed)
    }

    @Test func aPermanentErrorShowsTheUpstreamAnswersAndResetsTheCount() {
        var breaker = CircuitBreaker(threshold: 2)
        breaker.record(transientFailure: true, now: start, unit: 0)
        breaker.record(transientFailure: false, now: start, unit: 0)
        breaker.record(transientFailure: true, now: start, unit: 0)
        #expect(breaker.state == .closed(failures: 1))
    }

    @Test func withTheBreakerOpenTheCacheServesStaleValuesWithoutCallingUpstream() async throws {
        let clock = TestClock()
        let store = InMemorySecretStore(clock: clock)
        let id = try SecretID("/prod/shop/api-key/vendor")
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "value-1")))
        let upstream = SecretCacheTests.Upstream(store)
        let breaker = CircuitBreaker(threshold: 2, coolDown: Backoff(initial: .seconds(30), maximum: .seconds(60), jitter: .none))
        let cache = SecretCache(store: upstream, clock: clock, configuration: SecretCache.Configuration(ttl: 1, maxStaleness: 3600, breaker: breaker))
        let key = SecretCache.Key(secretID: id.rawValue)
        _ = try await cache.value(key)
        upstream.fail(.transient)
        for _ in 0..<2 {
            clock.advance(by: 2)
            #expect(try await cache.value(key).value == SecretValue(string: "value-1"))
        }
        let calls = upstream.calls
        for _ in 0..<5 {
            clock.advance(by: 2)
            #expect(try await cache.value(key).value == SecretValue(string: "value-1"))
        }
        #expect(upstream.calls == calls, "no upstream call while the breaker is open")
        let missing = SecretCache.Key(secretID: "/prod/shop/api-key/other")
        let refused = await #expect(throws: SecretCacheError.self) { _ = try await cache.value(missing) }
        #expect("\(refused!)".contains("circuit breaker is open"))
        upstream.fail(.none)
        clock.advance(by: 30)
        #expect(try await cache.value(key).value == SecretValue(string: "value-1"))
        #expect(await cache.breakerState == .closed(failures: 0))
    }
}
