import CoreMetrics
import Foundation
import RotorCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Secrets for a Swift service, in process: reads through ``SecretCache`` (single flight,
/// revalidation by DescribeSecret, stale-on-error within a maximum staleness, circuit breaker) from
/// Secrets Manager or the embedded store directly, or from a local agent; values decoded into a
/// ``SecretShape`` are kept decoded, so a hit within the TTL takes a lock and a dictionary look-up:
/// no I/O, no await on an actor, no allocation.
///
/// Rotation-aware: through an agent, the agent hears of rotations and this client's short TTL (5 s
/// by default) bounds the lag; directly, call ``invalidate(secret:)`` when told of a rotation.
public final class SecretsClient: Sendable {
    /// The cache's settings; its TTL is how long a decoded value is served before the cache is asked again.
    public typealias Configuration = SecretCache.Configuration

    @usableFromInline
    struct DecodedKey: Hashable, Sendable {
        @usableFromInline let secretID: String
        @usableFromInline let stage: StagingLabel?
        @usableFromInline let shape: ObjectIdentifier

        @usableFromInline
        init(secretID: String, stage: StagingLabel?, shape: ObjectIdentifier) {
            self.secretID = secretID
            self.stage = stage
            self.shape = shape
        }
    }

    /// A decoded value in a box of its own type: the key names the type, so a hit takes it out with
    /// no dynamic cast.
    @usableFromInline
    final class Box<Shape>: @unchecked Sendable {
        @usableFromInline let value: Shape
        init(_ value: Shape) { self.value = value }
    }

    /// Immutable: a re-stamp replaces it, so a hit reads one reference under the lock.
    @usableFromInline
    final class Decoded: @unchecked Sendable {
        @usableFromInline let box: AnyObject
        let secret: SecretID
        let version: VersionID
        let validUntil: Date
        /// `validUntil` in seconds since 1970, compared on every hit.
        @usableFromInline let deadline: Double

        init(box: AnyObject, secret: SecretID, version: VersionID, validUntil: Date) {
            self.box = box
            self.secret = secret
            self.version = version
            self.validUntil = validUntil
            deadline = validUntil.timeIntervalSince1970
        }
    }

    let cache: SecretCache
    let clock: any RotorClock
    /// With the system clock, a hit reads the coarse real-time clock (a few ms of resolution, a
    /// fraction of a TTL's second, at a quarter of the cost).
    @usableFromInline let coarseTime: Bool
    public let configuration: Configuration
    @usableFromInline let decoded = Mutex<[DecodedKey: Decoded]>([:])
    /// Invalidations so far, per secret id as read: a read that started before one is not kept.
    private let invalidations = Mutex<(count: UInt64, bySecret: [SecretID: UInt64])>((0, [:]))
    @usableFromInline let hits: Counter?

    /// A client reading `store` directly (Secrets Manager through RotorAWS, or the embedded store).
    public convenience init(store: any SecretStore, configuration: Configuration = Configuration(), clock: any RotorClock = SystemClock(),
                            metrics: (any MetricsFactory)? = nil) {
        self.init(upstream: StoreUpstream(store), configuration: configuration, clock: clock, metrics: metrics)
    }

    /// A client reading a local agent (rotor's or AWS's) with its SSRF token.
    public convenience init(agent: AgentUpstream, configuration: Configuration = .behindAgent, clock: any RotorClock = SystemClock(),
                            metrics: (any MetricsFactory)? = nil) {
        self.init(upstream: agent, configuration: configuration, clock: clock, metrics: metrics)
    }

    public init(upstream: any SecretUpstream, configuration: Configuration, clock: any RotorClock, metrics: (any MetricsFactory)?) {
        self.configuration = configuration
        self.clock = clock
        coarseTime = clock is SystemClock
        // The cache underneath revalidates on every call (TTL 0): this client's own TTL is the TTL.
        var underneath = configuration
        underneath.ttl = 0
        cache = SecretCache(upstream: upstream, clock: clock, configuration: underneath, metrics: metrics)
        hits = metrics.map { Counter(label: "rotor_secrets_client_hits_total", factory: $0) }
    }

    /// The secret's value (AWSCURRENT unless `stage` says otherwise), as a ``SecretShape``.
    @inlinable
    public func decode<Shape: SecretShape>(_ shape: Shape.Type = Shape.self, _ id: String, stage: StagingLabel? = nil) async throws -> Shape {
        let key = DecodedKey(secretID: id, stage: stage, shape: ObjectIdentifier(shape))
        if let hit = hit(key, as: shape) { return hit }
        return try await miss(key, shape)
    }

    @usableFromInline
    func miss<Shape: SecretShape>(_ key: DecodedKey, _ shape: Shape.Type) async throws -> Shape {
        let started = invalidations.withLock { $0.count }
        let value = try await cache.value(SecretCache.Key(secretID: key.secretID, stage: key.stage))
        return try keep(key, value, as: shape, startedAt: started)
    }

    /// The raw value (redacting), through the same cache; `AWSPENDING` is never cached.
    public func value(_ id: String, stage: StagingLabel? = nil, refreshNow: Bool = false) async throws -> SecretValue {
        let key = DecodedKey(secretID: id, stage: stage, shape: ObjectIdentifier(SecretValue.self))
        if !refreshNow, let hit = hit(key, as: SecretValue.self) { return hit }
        let started = invalidations.withLock { $0.count }
        let value = try await cache.value(SecretCache.Key(secretID: id, stage: stage), refreshNow: refreshNow)
        return try keep(key, value, as: SecretValue.self, startedAt: started)
    }

    /// The current and previous encryption keys of `id`, to seal with the current one and open data
    /// sealed before the last rotation.
    public func keyRing(_ id: String) async throws -> KeyRing {
        let current = try await decode(EncryptionKey.self, id)
        do {
            let previous = try await decode(EncryptionKey.self, id, stage: .previous)
            return KeyRing(current: current, previous: previous.version == current.version ? nil : previous)
        } catch let error as RotorError where error.code == .versionNotFound || error.code == .secretNotFound {
            return KeyRing(current: current, previous: nil)
        }
    }

    /// Drops everything cached for `secret` (a rotation finished): the next read fetches.
    public func invalidate(secret: SecretID) async {
        invalidations.withLock { state in
            state.count += 1
            state.bySecret[secret] = state.count
        }
        decoded.withLock { entries in entries = entries.filter { $0.value.secret != secret } }
        await cache.invalidate(secret: secret)
    }

    @inlinable
    func hit<Shape>(_ key: DecodedKey, as shape: Shape.Type) -> Shape? {
        let now = currentTime()
        guard let entry = decoded.withLock({ $0[key] }), entry.deadline > now else { return nil }
        hits?.increment()
        return unsafeDowncast(entry.box, to: Box<Shape>.self).value
    }

    /// Seconds since 1970, from the injected clock (or the coarse system clock; see ``coarseTime``).
    @usableFromInline
    func currentTime() -> Double {
        guard coarseTime else { return clock.now().timeIntervalSince1970 }
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Decodes `value` unless the version is the one already decoded (then only re-stamps it).
    private func keep<Shape: Sendable>(_ key: DecodedKey, _ value: SecretVersionValue, as shape: Shape.Type, startedAt: UInt64) throws -> Shape {
        let validUntil = clock.now().addingTimeInterval(configuration.ttl)
        // Pending values are never kept; nor is a read that started before its secret was invalidated.
        let invalidatedSince = invalidations.withLock { ($0.bySecret[value.secret] ?? 0) > startedAt }
        if key.stage == .pending || invalidatedSince { return try Self.make(shape, value) }
        if let same = decoded.withLock({ entries -> Shape? in
            guard let entry = entries[key], entry.version == value.versionID else { return nil }
            entries[key] = Decoded(box: entry.box, secret: entry.secret, version: entry.version, validUntil: validUntil)
            return unsafeDowncast(entry.box, to: Box<Shape>.self).value
        }) { return same }
        let typed = try Self.make(shape, value)
        decoded.withLock { entries in
            if entries.count >= max(1, configuration.capacity), entries[key] == nil, let oldest = entries.min(by: { $0.value.validUntil < $1.value.validUntil })?.key {
                entries[oldest] = nil
            }
            entries[key] = Decoded(box: Box(typed), secret: value.secret, version: value.versionID, validUntil: validUntil)
        }
        return typed
    }

    private static func make<Shape>(_ shape: Shape.Type, _ value: SecretVersionValue) throws -> Shape {
        if let raw = value.value as? Shape { return raw }
        guard let decodable = shape as? any SecretShape.Type, let typed = try decodable.decode(value) as? Shape else {
            preconditionFailure("SecretsClient decodes SecretShape types and SecretValue only")
        }
        return typed
    }
}
