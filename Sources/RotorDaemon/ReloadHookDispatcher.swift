import Foundation
import Logging
import RotorCore
import RotorPlugins
import ServiceLifecycle

/// Runs the policies' reload hooks after `AWSCURRENT` moves (a rotation's success, a rollback), at
/// least once: each pass feeds the outbox from the audit log past a cursor (one record per hook,
/// queued and the cursor moved in one transaction), then delivers due records, retrying failures
/// with backoff (5 s doubling to an hour, for a day) and auditing every outcome (`reload.hook`).
/// The daemon runs it every two seconds; `rotor rotate` runs one pass after its rotations.
public struct ReloadHookDispatcher: Service {
    public static let channel = "reload"
    static let cursor = "reload-hooks"
    static let backoff = Backoff(initial: .seconds(5), maximum: .seconds(3600), jitter: .none)
    /// About a day of attempts at the backoff's cap.
    static let maximumAttempts = 30

    let outbox: any SchedulingStore
    let state: any RotationStateStore
    let store: any SecretStore
    let policies: @Sendable () throws -> [RotationPolicy]
    let runner: ReloadHookRunner
    let clock: any RotorClock
    let logger: Logger
    let pollInterval: Duration

    public init(
        outbox: any SchedulingStore, state: any RotationStateStore, store: any SecretStore, policies: @escaping @Sendable () throws -> [RotationPolicy],
        clock: any RotorClock, logger: Logger, pollInterval: Duration = .seconds(2), runner: ReloadHookRunner? = nil
    ) {
        self.outbox = outbox
        self.state = state
        self.store = store
        self.policies = policies
        self.runner = runner ?? ReloadHookRunner(store: store)
        self.clock = clock
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await pass() } catch { logger.warning("reload hooks: pass failed; retrying", metadata: ["error": "\(error)"]) }
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: pollInterval) }
        }
    }

    /// Feeds the outbox, then delivers what is due (even when feeding failed); returns how many hooks succeeded.
    /// - Parameter only: feed just these secrets' changes and leave the shared cursor alone (what
    ///   `rotor rotate` does for its own rotations, with its own policies); `nil` feeds every change
    ///   past the cursor and moves it (the daemon, `rotor reload-hooks run`).
    @discardableResult
    public func pass(only secrets: Set<SecretID>? = nil) async throws -> Int {
        var feedError: (any Error)?
        do { try await feed(only: secrets) } catch { feedError = error }
        let delivered = try await deliverDue(only: secrets)
        if let feedError { throw feedError }
        return delivered
    }

    /// Queues one record per hook of each change's policy, deduplicated by change and hook, so
    /// processes that feed the same change queue it once. The shared cursor moves only past changes
    /// queued, with a compare-and-set (two feeders never move it back); a change whose secret cannot
    /// be read for a transient reason stops the feed there until the next pass.
    func feed(only secrets: Set<SecretID>?) async throws {
        if let secrets {
            let changes = try await outbox.currentVersionChanges(after: try await outbox.outboxCursor(Self.cursor), limit: 1000)
            let set = try policies()
            var records: [(record: AlertRecord, key: String)] = []
            for change in changes where secrets.contains(change.secret) { records += try await queued(change, set) }
            _ = try await outbox.enqueueOutbox(records, channel: Self.channel, cursor: nil)
            return
        }
        for _ in 0..<100 {
            let from = try await outbox.outboxCursor(Self.cursor)
            let changes = try await outbox.currentVersionChanges(after: from, limit: 100)
            guard !changes.isEmpty else { return }
            let set = try policies()
            var records: [(record: AlertRecord, key: String)] = []
            var reached = from
            var failure: (any Error)?
            for change in changes {
                do { records += try await queued(change, set) } catch {
                    failure = error
                    break
                }
                reached = change.position
            }
            if reached > from { _ = try await outbox.enqueueOutbox(records, channel: Self.channel, cursor: (Self.cursor, from, reached)) }
            if let failure { throw failure }
        }
    }

    /// The records for one change: one per hook of the secret's policy (none without a policy or hooks).
    func queued(_ change: CurrentVersionChange, _ set: [RotationPolicy]) async throws -> [(record: AlertRecord, key: String)] {
        guard let policy = set.first(where: { $0.matches(change.secret) }), !policy.reload.isEmpty,
              let version = try await currentVersion(change.secret) else { return [] }
        return try policy.reload.map { hook in
            let notice = ReloadNotice(secretId: change.secret.rawValue, versionId: version.rawValue, finishedAt: change.at.timeIntervalSince1970,
                                      policy: policy.name, hook: hook, position: change.position)
            let payload = String(decoding: try JSONEncoder().encode(notice), as: UTF8.self)
            return (AlertRecord(createdAt: clock.now(), kind: "reload.\(hook.kind)", secret: change.secret, payload: payload), notice.deduplicationKey)
        }
    }

    /// The version now `AWSCURRENT`; `nil` for a secret deleted since; "unknown" when the store
    /// refuses for good (the hook still runs); a transient error throws (the feed stops there).
    func currentVersion(_ secret: SecretID) async throws -> VersionID? {
        do {
            return try await store.describeSecret(secret).holder(of: .current)
        } catch let error as RotorError where error.code == .secretNotFound {
            return nil
        } catch let error as RotorError where !error.isTransient {
            logger.warning("reload hooks: cannot read the current version; the hooks run without it", metadata: ["secret": "\(secret)", "error": "\(error)"])
            return VersionID("unknown")
        }
    }

    func deliverDue(only secrets: Set<SecretID>?) async throws -> Int {
        var delivered = 0
        for record in try await outbox.dueOutbox(channel: Self.channel, at: clock.now(), limit: 100)
        where secrets.map({ set in record.secret.map(set.contains) ?? false }) ?? true {
            // Claimed first: a daemon and a CLI pass never run the same hook at once.
            guard try await outbox.claimOutbox(record.id, at: clock.now(), until: clock.now().addingTimeInterval(runner.timeout.seconds + 60)) else { continue }
            if try await deliver(record) { delivered += 1 }
        }
        return delivered
    }

    /// Runs the record's hook; the outcome goes to the outbox and the audit log.
    func deliver(_ record: AlertRecord) async throws -> Bool {
        guard let notice = try? JSONDecoder().decode(ReloadNotice.self, from: Data(record.payload.utf8)) else {
            try await outbox.markAlertDelivered(record.id, at: clock.now())
            try await audit(record, "dropped", "the queued record does not parse (written by another version of rotor?)")
            return false
        }
        let attempt = record.attempts + 1
        let hook = notice.hook
        guard let failure = await runner.run(hook, notice) else {
            try await outbox.markAlertDelivered(record.id, at: clock.now())
            try await audit(record, "delivered", "\(hook) for version \(notice.versionId) (attempt \(attempt))")
            return true
        }
        guard attempt < Self.maximumAttempts else {
            try await outbox.markAlertDelivered(record.id, at: clock.now())
            try await audit(record, "abandoned", "\(hook) failed \(attempt) times, last: \(failure)")
            logger.error("reload hook abandoned", metadata: ["secret": "\(record.secret.map { "\($0)" } ?? "-")", "hook": "\(hook)", "error": "\(failure)"])
            return false
        }
        let delay = Self.backoff.delay(afterAttempt: attempt, unit: 0).seconds
        try await outbox.markAlertFailed(record.id, error: failure, nextAttemptAt: clock.now().addingTimeInterval(delay))
        try await audit(record, "failed", "\(hook): \(failure) (attempt \(attempt); next in \(Int(delay)) s)")
        logger.notice("reload hook failed; will retry", metadata: ["secret": "\(record.secret.map { "\($0)" } ?? "-")", "hook": "\(hook)", "error": "\(failure)"])
        return false
    }

    func audit(_ record: AlertRecord, _ outcome: String, _ detail: String) async throws {
        try await state.appendAudit(AuditEvent(at: clock.now(), actor: "reload-hooks", secret: record.secret, operation: "reload.hook", outcome: outcome, detail: detail))
    }
}
