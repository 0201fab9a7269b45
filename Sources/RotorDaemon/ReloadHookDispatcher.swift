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

    /// Feeds the outbox, then delivers what is due; returns how many hooks succeeded.
    @discardableResult
    public func pass() async throws -> Int {
        try await feed()
        return try await deliverDue()
    }

    /// Queues one record per hook of each change's policy (none when the policy has no hooks).
    func feed() async throws {
        while true {
            let changes = try await outbox.currentVersionChanges(after: Self.cursor, limit: 100)
            guard let last = changes.last else { return }
            let set = try policies()
            var records: [AlertRecord] = []
            for change in changes {
                guard let policy = set.first(where: { $0.matches(change.secret) }), !policy.reload.isEmpty,
                      let version = try await currentVersion(change.secret) else { continue }
                for index in policy.reload.indices {
                    let notice = ReloadNotice(secretId: change.secret.rawValue, versionId: version.rawValue, finishedAt: change.at.timeIntervalSince1970,
                                              policy: policy.name, hook: index)
                    let payload = String(decoding: try JSONEncoder().encode(notice), as: UTF8.self)
                    records.append(AlertRecord(createdAt: clock.now(), kind: "reload.\(policy.reload[index].kind)", secret: change.secret, payload: payload))
                }
            }
            try await outbox.enqueueOutbox(records, channel: Self.channel, cursor: Self.cursor, position: last.position)
        }
    }

    /// The version now `AWSCURRENT`; `nil` for a secret deleted since (a transient error throws: the pass is retried).
    func currentVersion(_ secret: SecretID) async throws -> VersionID? {
        do {
            return try await store.describeSecret(secret).holder(of: .current)
        } catch let error as RotorError where error.code == .secretNotFound {
            return nil
        }
    }

    func deliverDue() async throws -> Int {
        var delivered = 0
        let due = try await outbox.dueOutbox(channel: Self.channel, at: clock.now(), limit: 100)
        guard !due.isEmpty else { return 0 }
        let set = try policies()
        for record in due {
            if try await deliver(record, set) { delivered += 1 }
        }
        return delivered
    }

    /// Runs the record's hook; the outcome goes to the outbox and the audit log.
    func deliver(_ record: AlertRecord, _ set: [RotationPolicy]) async throws -> Bool {
        guard let notice = try? JSONDecoder().decode(ReloadNotice.self, from: Data(record.payload.utf8)) else {
            try await outbox.markAlertDelivered(record.id, at: clock.now())
            return false
        }
        let attempt = record.attempts + 1
        // The policy may have changed since: a hook it no longer has is not run.
        guard let policy = set.first(where: { $0.name == notice.policy }), notice.hook < policy.reload.count else {
            try await audit(record, "dropped", "the policy '\(notice.policy)' no longer has this hook")
            try await outbox.markAlertDelivered(record.id, at: clock.now())
            return false
        }
        let hook = policy.reload[notice.hook]
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
