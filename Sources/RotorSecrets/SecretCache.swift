import CoreMetrics
import Foundation
import RotorCore
import Synchronization

/// A read-through cache of secret values with the semantics of AWS's Secrets Manager Agent, and
/// more: a hit younger than the TTL is served from memory; an expired entry is revalidated with
/// DescribeSecret (re-stamped when its version still holds the requested label, else fetched
/// again); `refreshNow` always fetches and never falls back; transient upstream errors serve the
/// cached value (re-stamped) when allowed, but never past `maxStaleness` since it was last
/// confirmed; concurrent misses of one key make one upstream call; past `capacity` the entry
/// written longest ago is evicted; `AWSPENDING` is never cached; ``invalidate(secret:)`` (a rotation
/// rotor finished) drops a secret's entries at once. Values stay in memory only, in ``SecretValue``
/// (which redacts).
public actor SecretCache {
    /// What a read names, exactly as sent: the agent keys name, ARN and explicit stage apart.
    public struct Key: Hashable, Sendable {
        public let secretID: String
        public let versionID: VersionID?
        public let stage: StagingLabel?

        public init(secretID: String, versionID: VersionID? = nil, stage: StagingLabel? = nil) {
            self.secretID = secretID
            self.versionID = versionID
            self.stage = stage
        }

        public var selector: VersionSelector { VersionSelector(versionID: versionID, stage: stage) }
    }

    public struct Configuration: Sendable {
        /// In front of a local agent (``SecretsClient``): a short TTL, since the agent caches and hears of rotations.
        public static let behindAgent = Configuration(ttl: 5, upstreamTimeout: .seconds(10))

        /// 0 revalidates on every read (one DescribeSecret each), as AWS's agent does.
        public var ttl: TimeInterval
        /// 0 turns the cache off: every read goes upstream.
        public var capacity: Int
        /// Serve the cached value when the upstream fails transiently (timeouts, 5xx).
        public var ignoreTransientErrors: Bool
        /// The longest a value is served after it was last confirmed upstream; past it a transient
        /// error is returned (``SecretCacheError/stale(_:confirmedAt:)``) instead of the stale value.
        public var maxStaleness: TimeInterval
        /// The upstream's circuit breaker (consecutive transient failures before it opens, and its cool-down).
        public var breaker: CircuitBreaker
        /// One upstream call may take this long before it counts as a transient failure; `nil`, no limit.
        public var upstreamTimeout: Duration?

        public init(
            ttl: TimeInterval = 300, capacity: Int = 1000, ignoreTransientErrors: Bool = true, maxStaleness: TimeInterval = 3600,
            breaker: CircuitBreaker = CircuitBreaker(), upstreamTimeout: Duration? = nil
        ) {
            self.breaker = breaker
            self.upstreamTimeout = upstreamTimeout
            self.ttl = ttl
            self.capacity = max(0, capacity)
            self.ignoreTransientErrors = ignoreTransientErrors
            self.maxStaleness = maxStaleness
        }
    }

    struct Entry {
        var value: SecretVersionValue
        /// When the TTL started (a fetch, a revalidation, or a stale serve).
        var stampedAt: Date
        /// When the upstream last confirmed the value.
        var confirmedAt: Date
        /// The write order, for least-recently-written eviction.
        var written: UInt64
    }

    let source: any SecretUpstream
    let clock: any RotorClock
    public let configuration: Configuration
    private var entries: [Key: Entry] = [:]
    private var writes: UInt64 = 0
    private var inflight: [Key: Task<SecretVersionValue, any Error>] = [:]
    private var breaker: CircuitBreaker
    /// The write count at each secret's last invalidation: a fetch that started before it is not kept.
    private var invalidated: [SecretID: UInt64] = [:]
    private let metrics: SecretCacheMetrics?

    /// - Parameter metrics: where reads and upstream calls are counted (swift-metrics); `nil` counts nothing.
    public init(
        store: any SecretStore, clock: any RotorClock = SystemClock(), configuration: Configuration = Configuration(),
        metrics: (any MetricsFactory)? = nil
    ) {
        self.init(upstream: StoreUpstream(store), clock: clock, configuration: configuration, metrics: metrics)
    }

    /// A cache over any upstream (a store, or a local agent for ``SecretsClient``).
    public init(
        upstream: any SecretUpstream, clock: any RotorClock = SystemClock(), configuration: Configuration = Configuration(),
        metrics: (any MetricsFactory)? = nil
    ) {
        source = upstream
        self.clock = clock
        self.configuration = configuration
        breaker = configuration.breaker
        self.metrics = metrics.map(SecretCacheMetrics.init)
    }

    /// Drops every entry of `secret` (under any name it was read by), because rotor finished rotating
    /// it; fetches already running are not kept and later reads do not join them. Returns how many
    /// entries went.
    @discardableResult
    public func invalidate(secret: SecretID) -> Int {
        let before = entries.count
        entries = entries.filter { $0.value.value.secret != secret }
        writes += 1
        invalidated[secret] = writes
        // Later reads of this secret must not join a fetch that started before the rotation.
        inflight = inflight.filter { key, _ in !((try? SecretID.candidates(nameOrARN: key.secretID)) ?? []).contains(secret) }
        metrics?.invalidated()
        return before - entries.count
    }

    /// The upstream's breaker as it stands (for the agent's metrics and health).
    public var breakerState: CircuitBreaker.State { breaker.state }

    /// Runs one upstream call through the breaker: refused while it is open (as a transient error,
    /// so a cached value is served), its outcome recorded.
    private func upstream<T: Sendable>(_ api: String, _ call: @escaping @Sendable () async throws -> T) async throws -> T {
        if case .rejected(let until) = breaker.admit(now: clock.now()) {
            metrics?.upstream(api, outcome: "CircuitOpen")
            throw SecretCacheError.circuitOpen(until: until)
        }
        do {
            let result = try await Self.bounded(configuration.upstreamTimeout, api, call)
            breaker.record(transientFailure: false, now: clock.now(), unit: 0)
            metrics?.upstream(api, outcome: "ok")
            return result
        } catch {
            breaker.record(transientFailure: isTransient(error), now: clock.now(), unit: Double.random(in: 0..<1))
            if let cacheError = error as? SecretCacheError { metrics?.upstream(api, outcome: cacheError.outcome) } else {
                metrics?.upstream(api, failure: RotorError.wrapping(error).code)
            }
            throw error
        }
    }

    /// Runs `call`; once `timeout` has passed it is cancelled and the caller gets a transient error
    /// at once, whether or not the call notices the cancellation. Cancelling the caller cancels both.
    static func bounded<T: Sendable>(_ timeout: Duration?, _ api: String, _ call: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let timeout else { return try await call() }
        let race = Race()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let answer: @Sendable (Result<T, any Error>) -> Void = { result in
                    guard race.answered.withLock({ done in defer { done = true }; return !done }) else { return }
                    continuation.resume(with: result)
                    race.cancelAll()
                }
                race.start(
                    work: Task {
                        do { answer(.success(try await call())) } catch { answer(.failure(error)) }
                    },
                    timer: Task {
                        guard (try? await Task.sleep(for: timeout)) != nil else { return }
                        answer(.failure(SecretCacheError.timeout(api, after: timeout)))
                    })
            }
        } onCancel: {
            race.cancelAll()
        }
    }

    /// Who answered first in ``bounded(_:_:_:)``, and the call to cancel when the timer did.
    final class Race: Sendable {
        let answered = Mutex(false)
        private let tasks = Mutex<(cancelled: Bool, running: [Task<Void, Never>])>((false, []))

        func start(work: Task<Void, Never>, timer: Task<Void, Never>) {
            let cancelled = tasks.withLock { state in
                state.running = [work, timer]
                return state.cancelled
            }
            if cancelled { work.cancel(); timer.cancel() }
        }

        func cancelAll() {
            let running = tasks.withLock { state in
                state.cancelled = true
                return state.running
            }
            for task in running { task.cancel() }
        }
    }

    /// The value `key` names, through the cache.
    public func value(_ key: Key, refreshNow: Bool = false) async throws -> SecretVersionValue {
        do {
            let (value, read) = try await lookUp(key, refreshNow: refreshNow)
            metrics?.read(read, secret: value.secret)
            return value
        } catch {
            metrics?.read(.failed, secret: nil)
            throw error
        }
    }

    private func lookUp(_ key: Key, refreshNow: Bool) async throws -> (SecretVersionValue, SecretCacheMetrics.Read) {
        // A consumer's own test during a rotation's testSecret must see the pending value itself.
        if key.stage == .pending || configuration.capacity == 0 { return (try await upstreamValue(key), .uncached) }
        // Never joined to a fetch already running: it may have started before a rotation.
        if refreshNow { return (try await fetch(key, join: false), .refreshed) }
        guard let entry = entries[key] else { return (try await fetch(key), .miss) }
        let now = clock.now()
        let fresh = configuration.ttl > 0 && now.timeIntervalSince(entry.stampedAt) <= configuration.ttl
        // A value served stale stops being served once the maximum staleness has passed, hit or not.
        if fresh, now.timeIntervalSince(entry.confirmedAt) <= configuration.maxStaleness { return (entry.value, .hit) }
        return try await revalidate(key, entry, now: now)
    }

    /// How many entries the cache holds.
    public var count: Int { entries.count }

    private func revalidate(_ key: Key, _ entry: Entry, now: Date) async throws -> (SecretVersionValue, SecretCacheMetrics.Read) {
        let stillCurrent: Bool
        do {
            stillCurrent = try await describeSaysCurrent(key, entry)
        } catch let error where isTransient(error) {
            return (try serveStale(key, entry, now: now, because: error), .stale)
        }
        guard stillCurrent else {
            do { return (try await fetch(key), .refetched) } catch let error where isTransient(error) {
                return (try serveStale(key, entry, now: now, because: error), .stale)
            }
        }
        restamp(key, confirmed: true)
        return (entry.value, .revalidated)
    }

    /// Whether the cached version still answers the read (`false` when the upstream cannot tell).
    private func describeSaysCurrent(_ key: Key, _ entry: Entry) async throws -> Bool {
        guard let api = source.checkAPI else { return false }
        let (source, cached) = (source, entry.value)
        return try await upstream(api) { try await source.stillAnswers(key, cached: cached) }
    }

    private func serveStale(_ key: Key, _ entry: Entry, now: Date, because error: any Error) throws -> SecretVersionValue {
        guard configuration.ignoreTransientErrors else { throw error }
        guard now.timeIntervalSince(entry.confirmedAt) <= configuration.maxStaleness else {
            throw SecretCacheError.stale(key.secretID, confirmedAt: entry.confirmedAt)
        }
        restamp(key, confirmed: false)
        return entry.value
    }

    /// One upstream GetSecretValue per key at a time: concurrent callers share it (unless `join` is
    /// false). A value whose secret was invalidated while it was being fetched is returned, not kept.
    private func fetch(_ key: Key, join: Bool = true) async throws -> SecretVersionValue {
        if join, let running = inflight[key] { return try await running.value }
        let started = writes
        let task = Task { () throws -> SecretVersionValue in try await self.upstreamValue(key) }
        if join { inflight[key] = task }
        defer { if join, inflight[key] == task { inflight[key] = nil } }
        let value = try await task.value
        if let at = invalidated[value.secret], at > started { return value }
        return keep(key, value)
    }

    /// Keeps a value just fetched (confirmed now).
    private func keep(_ key: Key, _ value: SecretVersionValue) -> SecretVersionValue {
        let now = clock.now()
        writes += 1
        entries[key] = Entry(value: value, stampedAt: now, confirmedAt: now, written: writes)
        evictIfNeeded()
        return value
    }

    /// The upstream's value for `key`, uncached.
    private func upstreamValue(_ key: Key) async throws -> SecretVersionValue {
        let source = source
        return try await upstream(source.fetchAPI) { try await source.fetch(key) }
    }

    private func restamp(_ key: Key, confirmed: Bool) {
        guard var entry = entries[key] else { return }
        let now = clock.now()
        entry.stampedAt = now
        if confirmed { entry.confirmedAt = now }
        writes += 1
        entry.written = writes
        entries[key] = entry
    }

    private func evictIfNeeded() {
        while entries.count > configuration.capacity, let oldest = entries.min(by: { $0.value.written < $1.value.written })?.key {
            entries[oldest] = nil
        }
    }


    private func isTransient(_ error: any Error) -> Bool {
        if error is SecretCacheError { return true }
        return RotorError.wrapping(error).isTransient
    }
}

/// Why the cache could not answer.
public enum SecretCacheError: Error, CustomStringConvertible, Sendable {
    /// The upstream is failing and the cached value was last confirmed too long ago to serve.
    case stale(String, confirmedAt: Date)
    /// The upstream failed repeatedly; no call goes to it before `until`.
    case circuitOpen(until: Date)
    /// One upstream call took longer than the configured timeout (a transient failure).
    case timeout(String, after: Duration)

    /// Its name in metrics.
    var outcome: String {
        switch self {
        case .stale: "Stale"
        case .circuitOpen: "CircuitOpen"
        case .timeout: "Timeout"
        }
    }

    public var description: String {
        switch self {
        case .circuitOpen(let until):
            "the upstream failed repeatedly; its circuit breaker is open until \(until.formatted(.iso8601)) (a cached value is served meanwhile when there is one)"
        case .timeout(let api, let after):
            "\(api) took longer than \(after); the upstream is slow (a cached value is served meanwhile when there is one)"
        case .stale(let id, let confirmedAt):
            "the upstream is unavailable and the cached value of \(id.printable(limit: 128)) was last confirmed at \(confirmedAt.formatted(.iso8601)), longer ago than the maximum staleness"
        }
    }
}
