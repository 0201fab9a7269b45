import Foundation
import Logging
import RotorCore
import RotorPolicies
import ServiceLifecycle
import Synchronization

/// Limits and timings of the scheduler.
public struct SchedulerConfiguration: Sendable {
    /// Rotations running at once, in total and per rotator kind.
    public var maxConcurrent: Int
    public var maxConcurrentPerRotator: Int
    /// The longest the loop sleeps, so changes by other processes are seen.
    public var maxSleep: Duration
    /// The daemon lease: one active daemon per state database.
    public var leaseTTL: TimeInterval
    public var owner: String
    /// How often policies are re-read and reconciled.
    public var reconcileInterval: TimeInterval
    /// How often a reconcile pass visits every secret even when the policies did not change (to find
    /// secrets created in the store outside rotor); the passes in between visit only what changed.
    public var fullReconcileInterval: TimeInterval
    /// The environments this daemon acts on (`rotor daemon --environment`); all by default.
    public var scope: EnvironmentScope
    /// On a shared schedule, how soon a daemon that found nothing to claim looks again when no
    /// wake-up comes (the state announces released claims, requests and new deadlines).
    public var claimPoll: Duration
    /// The rotor version a daemon reports with its heartbeat (`rotor daemons`).
    public var version = "unknown"

    /// On a shared state the caps hold for the whole fleet: a claim counts every lock held in the state.
    public var fleetCaps: FleetCaps { FleetCaps(total: maxConcurrent, perRotator: maxConcurrentPerRotator) }

    public init(
        maxConcurrent: Int = 8, maxConcurrentPerRotator: Int = 4, maxSleep: Duration = .seconds(60), leaseTTL: TimeInterval = 15,
        owner: String = "daemon-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(6))", reconcileInterval: TimeInterval = 300,
        fullReconcileInterval: TimeInterval = 3600, scope: EnvironmentScope = .all, claimPoll: Duration = .seconds(5)
    ) {
        self.scope = scope
        self.claimPoll = claimPoll
        self.fullReconcileInterval = fullReconcileInterval
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxConcurrentPerRotator = max(1, maxConcurrentPerRotator)
        self.maxSleep = maxSleep
        self.leaseTTL = leaseTTL
        self.owner = owner
        self.reconcileInterval = reconcileInterval
    }
}

/// Runs due rotations: holds the lease, recovers interrupted rotations, reconciles policies, then
/// loops tick → sleep until the next deadline (capped). Graceful shutdown interrupts only the sleep:
/// rotations in flight finish.
public final class RotationScheduler: Service, Sendable {
    let engine: RotationEngine
    let schedule: any SchedulingStore
    let loadPolicies: @Sendable () throws -> PolicySet
    let clock: any RotorClock
    let alerts: AlertCenter
    let metrics: RotorMetrics
    let configuration: SchedulerConfiguration
    let logger: Logger
    let createMissing: Bool
    let state = SchedulerState()
    /// When this daemon started and last recorded its heartbeat (a shared state's ``DaemonRegistry``).
    let startedAt = Date()
    let lastHeartbeat = Mutex<Date?>(nil)
    /// The daemons heard from within a lease time (this one included): each claims its share of the caps.
    let liveDaemons = Mutex(1)
    /// Set by the state's wake-ups (``DueWorkSignal``): ends the loop's sleep.
    let wake = WakeFlag()
    /// The caps every rotation this daemon starts shares: the schedule's and the batches'.
    public let slots: RotationSlots

    public init(
        engine: RotationEngine, schedule: any SchedulingStore, policies: @escaping @Sendable () throws -> PolicySet, clock: any RotorClock,
        alerts: AlertCenter, metrics: RotorMetrics, configuration: SchedulerConfiguration, logger: Logger, createMissing: Bool = false
    ) {
        self.engine = engine
        self.schedule = schedule
        self.loadPolicies = policies
        self.clock = clock
        self.alerts = alerts
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        self.createMissing = createMissing
        slots = RotationSlots(maxConcurrent: configuration.maxConcurrent, maxConcurrentPerRotator: configuration.maxConcurrentPerRotator)
    }

    /// Whether this scheduler holds the lease (for /healthz and tests).
    public var isLeader: Bool { state.isLeader }

    public func run() async throws {
        let listening = listenForDueWork()
        defer { listening?.cancel() }
        var failures = 0
        while !Task.isShuttingDownGracefully {
            do {
                try await iterate()
                if state.degraded != nil { logger.notice("scheduler recovered") }
                state.degraded = nil
                failures = 0
            } catch is CancellationError {
                break
            } catch {
                // A database error (locked, full disk, I/O) must not stop the daemon: report, back off, retry.
                failures += 1
                state.degraded = "\(RotorError.wrapping(error).summary.prefix(300))"
                let delay = Self.failureBackoff.backoff(afterAttempt: failures, unit: Double.random(in: 0..<1))
                logger.error("scheduler iteration failed; retrying", metadata: ["error": "\(error)", "retry-in-ms": "\(Int(delay.seconds * 1000))"])
                try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: delay) }
            }
        }
        if state.isLeader {
            // Not cancellable: a cancelled database call would not run and the lease would stay held until it lapses.
            let (schedule, name, owner) = (schedule, leaseName, configuration.owner)
            await Task.detached { try? await schedule.releaseLease(name, owner: owner) }.value
        }
    }

    /// On a shared state that announces due work, ends the loop's sleep at each announcement.
    func listenForDueWork() -> Task<Void, Never>? {
        guard let signal = dueWorkSignal else { return nil }
        let wake = self.wake
        return Task {
            for await _ in signal.dueWorkAnnouncements() {
                wake.signal()
                // At most 20 wake-ups a second, however many notifications come (any role of the
                // database may notify the channel): a burst is one wake-up.
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    static let failureBackoff = RetryPolicy(initialBackoff: .seconds(1), maximumBackoff: .seconds(60))

    /// Why the loop is failing right now (for `/healthz`), or nil.
    public var degradedReason: String? { state.degraded }

    /// The shared schedule when the state is shared between hosts (PostgreSQL): every daemon then
    /// rotates the due secrets it claims, and the lease only picks who reconciles, reminds and recovers.
    var claims: (any ClaimingStore)? { schedule as? any ClaimingStore }

    /// A shared schedule's wake-ups, when it announces due work.
    var dueWorkSignal: (any DueWorkSignal)? { claims == nil ? nil : schedule as? any DueWorkSignal }

    /// One pass: hold the lease, start (recover, reconcile) under it, tick, reconcile when stale, sleep.
    /// Without the lease a daemon stands by, or, on a shared schedule, rotates what it claims.
    func iterate() async throws {
        let leading = try await holdLease()
        await recordHeartbeat()
        guard leading || claims != nil else {
            try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: .seconds(self.configuration.leaseTTL / 3)) }
            return
        }
        let summary = if leading {
            try await withLeaseRenewal {
                if self.state.needsStart { try await self.start() }
                let summary = try await self.tick()
                try await self.reconcileIfStale()
                return summary
            }
        } else {
            try await sharedTick()
        }
        // A full claim may leave more due work: claim again at once.
        guard !summary.claimedFully else { return }
        try? await cancelWhenGracefulShutdown { try await self.sleepUntilNextDeadline() }
    }

    /// Records this daemon's heartbeat in a shared state, at most every third of the lease time;
    /// a failure is only logged (the loop's own calls report the state's health).
    func recordHeartbeat() async {
        guard let registry = schedule as? any DaemonRegistry else { return }
        let now = clock.now()
        let due = lastHeartbeat.withLock { last in
            guard last.map({ now.timeIntervalSince($0) >= configuration.leaseTTL / 3 }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        let me = DaemonRecord(owner: engine.configuration.lockOwner, host: ProcessInfo.processInfo.hostName,
                              pid: ProcessInfo.processInfo.processIdentifier, version: configuration.version, startedAt: startedAt, heartbeatAt: now)
        do {
            try await registry.heartbeat(me)
            let live = try await registry.daemons(heardSince: now.addingTimeInterval(-configuration.leaseTTL)).count
            liveDaemons.withLock { $0 = max(1, live) }
        } catch {
            logger.warning("could not record this daemon's heartbeat", metadata: ["error": "\(error)"])
        }
    }

    /// How many due secrets one claim takes: this daemon's caps, and its share of the fleet's among
    /// the live daemons (so one daemon does not take every slot while the others wait).
    var claimLimit: Int {
        let (caps, live) = (configuration.fleetCaps, liveDaemons.withLock { $0 })
        let share = (min(caps.total, caps.perRotator) + live - 1) / live
        return max(1, min(configuration.maxConcurrent, configuration.maxConcurrentPerRotator, share))
    }

    /// A daemon without the lease on a shared schedule: the policies as the files say (re-read as
    /// often as the leader reconciles), then the rotations it claims.
    func sharedTick() async throws -> TickSummary {
        if state.policies == nil || state.lastReconcile.map({ clock.now().timeIntervalSince($0) >= configuration.reconcileInterval }) ?? true {
            state.policies = try loadPolicies()
            state.reconciled(at: clock.now())
        }
        return try await tick()
    }

    static let leaseName = "scheduler"

    /// One lease per scope, so daemons of different environments on one state database each act;
    /// a scoped daemon stands by while an unscoped one (which covers every environment) is active.
    var leaseName: String {
        switch configuration.scope {
        case .all: Self.leaseName
        case .only(let environment): "\(Self.leaseName):\(environment.name)"
        }
    }

    func holdLease() async throws -> Bool {
        var holding = try await schedule.acquireLease(leaseName, owner: configuration.owner, ttl: configuration.leaseTTL, now: clock.now())
        if holding, configuration.scope != .all, let global = try await schedule.leaseHolder(Self.leaseName, now: clock.now()), global.owner != configuration.owner {
            try await schedule.releaseLease(leaseName, owner: configuration.owner)
            holding = false
        }
        if holding != state.isLeader {
            logger.notice(holding ? "lease acquired: this daemon is active" : "lease held by another daemon: standing by", metadata: ["owner": "\(configuration.owner)"])
            if !holding { state.lostLease() }
        }
        state.isLeader = holding
        metrics.leaseHolder(owner: configuration.owner, holding: holding)
        return holding
    }

    /// On becoming active: finish interrupted rotations first, then reconcile the policies.
    func start() async throws {
        try await recover()
        try await reconcile()
        state.started()
    }

    /// Resumes (or rolls back) every rotation whose journal is still open.
    public func recover() async throws {
        for secret in try await engine.state.managedSecrets(in: configuration.scope) {
            guard let open = try await engine.state.openRotation(for: secret.id) else { continue }
            logger.notice("recovering interrupted rotation", metadata: ["secret": "\(secret.id)", "token": "\(open.token)"])
            // Only finish it: if it ended meanwhile (another daemon's), nothing new starts.
            await rotate(secret.id, policy: nil, resumeOnly: true)
        }
    }

    /// Loads `policies` into the scheduler without reconciling the store (benchmarks that build the schedule themselves).
    public func reconcileForBenchmark(_ policies: PolicySet) async throws {
        state.policies = policies
        state.started()
    }

    /// Reconciles the policies. With `incremental`, unchanged policies and a recent full pass, only
    /// the secrets registered or reconfigured since the last pass are visited; otherwise every one.
    func reconcile(incremental: Bool = false) async throws {
        do {
            let previous = state.policies
            let policies = try loadPolicies()
            state.policies = policies
            let reconciler = PolicyReconciler(engine: engine, schedule: schedule, clock: clock, logger: logger, scope: configuration.scope)
            let sequence = try await schedule.configSequence()
            let summary: PolicyReconciler.Summary
            if incremental, let previous, previous.policies == policies.policies, let since = state.reconciledSequence,
               let full = state.lastFullReconcile, clock.now().timeIntervalSince(full) < configuration.fullReconcileInterval {
                summary = try await reconciler.reconcileChanges(policies, after: since)
            } else {
                summary = try await reconciler.reconcile(policies, createMissing: createMissing)
                state.fullyReconciled(at: clock.now())
            }
            state.reconciledSequence = sequence
            logger.info("policies reconciled", metadata: [
                "scheduled": "\(summary.scheduled)", "rescheduled": "\(summary.rescheduled)", "created": "\(summary.created)", "incremental": "\(incremental)"])
        } catch {
            await alerts.raise(.policyError, secret: nil, "policies could not be loaded; keeping the previous ones", details: ["error": "\(error)"])
        }
        state.reconciled(at: clock.now())
    }

    func reconcileIfStale() async throws {
        guard let last = state.lastReconcile, clock.now().timeIntervalSince(last) < configuration.reconcileInterval else {
            try await reconcile(incremental: true)
            return
        }
    }

    func sleepUntilNextDeadline() async throws {
        let now = clock.now()
        var delay = configuration.maxSleep
        if let next = try await schedule.earliestDeadline(in: configuration.scope) {
            delay = min(delay, .milliseconds(Int64(max(0, next.timeIntervalSince(now)) * 1000)))
        }
        // Standby daemons and lease renewal need a wake-up within the lease time.
        delay = min(delay, .milliseconds(Int64(configuration.leaseTTL * 1000 / 3)))
        // On a shared schedule a past deadline may be another daemon's claim: look again soon, not at once.
        if claims != nil { delay = max(delay, min(configuration.claimPoll, .milliseconds(Int64(configuration.leaseTTL * 1000 / 3)))) }
        if delay > .zero { try await sleepUnlessWoken(delay) }
    }

    /// Sleeps for `delay`, or less when the shared state announces due work.
    func sleepUnlessWoken(_ delay: Duration) async throws {
        guard dueWorkSignal != nil else {
            try await clock.sleep(for: delay)
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.clock.sleep(for: delay) }
            group.addTask { await self.wake.wait() }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Renews the lease in the background while `body` runs (long rotations must not lose it).
    func withLeaseRenewal<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(Int64(self.configuration.leaseTTL * 1000 / 3)))
                    _ = try? await self.holdLease()
                }
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }
}
