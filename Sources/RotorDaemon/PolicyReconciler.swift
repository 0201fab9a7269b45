import Foundation
import Logging
import RotorCore
import RotorPolicies

/// Brings managed secrets and their schedule in line with the policies: secrets a policy matches
/// are managed with its rotator and options, and get a schedule derived from their last rotation
/// (re-derived only when the policy changed, so a restart never moves a deadline).
public struct PolicyReconciler: Sendable {
    let engine: RotationEngine
    let schedule: any SchedulingStore
    let clock: any RotorClock
    let logger: Logger
    /// Only these environments' secrets are managed, scheduled or created.
    let scope: EnvironmentScope

    public init(engine: RotationEngine, schedule: any SchedulingStore, clock: any RotorClock, logger: Logger, scope: EnvironmentScope = .all) {
        self.scope = scope
        self.engine = engine
        self.schedule = schedule
        self.clock = clock
        self.logger = logger
    }

    public struct Summary: Sendable, Equatable {
        public var scheduled = 0
        public var rescheduled = 0
        public var registered = 0
        public var unscheduled = 0
        public var created = 0
    }

    /// A full pass: every secret in the store or the state database.
    /// - Parameter createMissing: create secrets named exactly by a policy that the store lacks
    ///   (with the rotator's generated first value), as `make run` does for the example secrets.
    @discardableResult
    public func reconcile(_ policies: PolicySet, createMissing: Bool = false) async throws -> Summary {
        var summary = Summary()
        if createMissing { summary.created = try await createMissingSecrets(policies) }
        let stored = try await engine.store.listSecrets(in: scope).map(\.id).filter(scope.contains)
        let fingerprints = Self.fingerprints(policies)
        // One read compares every managed row and schedule entry with its policy inside the store;
        // only what differs comes back, is checked with the pass's own rules, re-read (verified) and
        // written, so a pass with nothing to change makes no write.
        let candidates = try await schedule.reconcileCandidates(in: scope, expected: Self.expectation(policies, fingerprints))
        var changed = Set(candidates.schedules)
        for candidate in candidates.configurations {
            // The scan does not check the rows' MACs: decide on the verified row (a tampered one throws here).
            guard let verified = try await engine.state.managedSecret(try SecretID(candidate.id)) else { continue }
            let configuration = ManagedConfiguration(id: candidate.id, rotator: verified.rotator, options: verified.options)
            if !Self.hasPolicyConfiguration(configuration, policies, engine.rotators) { changed.insert(candidate.id) }
        }
        for raw in changed.sorted() {
            let id = try SecretID(raw)
            try await reconcile(id, known: try await engine.state.managedSecret(id), entry: try await schedule.scheduleEntry(id), policies, fingerprints, &summary)
        }
        let managed = try await schedule.managedIDs(among: stored)
        for id in stored.sorted() where !managed.contains(id) {
            try await reconcile(id, known: nil, entry: try await schedule.scheduleEntry(id), policies, fingerprints, &summary)
        }
        return summary
    }

    /// An incremental pass, for unchanged policies: only the managed secrets registered, or whose
    /// rotator or options changed, after `sequence` (``SchedulingStore/configSequence()`` read
    /// before the previous pass). Secrets that exist only in the store are found by full passes.
    @discardableResult
    public func reconcileChanges(_ policies: PolicySet, after sequence: Int64) async throws -> Summary {
        var summary = Summary()
        let fingerprints = Self.fingerprints(policies)
        for secret in try await schedule.managedSecrets(in: scope, changedAfter: sequence) {
            try await reconcile(secret.id, known: secret, entry: try await schedule.scheduleEntry(secret.id), policies, fingerprints, &summary)
        }
        return summary
    }

    /// Whether a schedule entry (its policy and fingerprint) was planned under `policy` as it is now.
    static func scheduleIsCurrent(policy: String?, fingerprint: String?, under current: RotationPolicy, _ fingerprints: [String: String]) -> Bool {
        policy == current.name && fingerprint != nil && fingerprint == fingerprints[current.name]
    }

    /// The rotator options a managed secret should have under `policy`: the policy's, keeping the
    /// facts recorded from the secret's value.
    static func options(under policy: RotationPolicy, recorded: RotatorOptions, _ rotators: RotatorRegistry) -> RotatorOptions {
        (try? rotators.descriptor(policy.rotator))?.keepingRecorded(policy.options, from: recorded) ?? policy.options
    }

    /// A policy's fingerprint is a hash of its fields: once per policy, not once per secret.
    static func fingerprints(_ policies: PolicySet) -> [String: String] {
        Dictionary(policies.policies.map { ($0.name, $0.fingerprint) }, uniquingKeysWith: { first, _ in first })
    }

    /// Brings one secret in line: managed with its policy's rotator and options, scheduled under
    /// the policy's current fingerprint, or unscheduled when no policy matches.
    private func reconcile(
        _ id: SecretID, known: ManagedSecret?, entry: ScheduleEntry?, _ policies: PolicySet, _ fingerprints: [String: String], _ summary: inout Summary
    ) async throws {
        let matching = policies.policies(matching: id)
        guard matching.count <= 1 else {
            logger.error("secret matched by several policies; not scheduled", metadata: ["secret": "\(id)", "policies": "\(matching.map(\.name))"])
            return
        }
        guard let policy = matching.first else {
            if entry != nil { try await schedule.removeScheduleEntry(id); summary.unscheduled += 1 }
            return
        }
        guard let secret = try await ensureManaged(id, known: known, policy: policy, summary: &summary) else { return }
        guard !Self.scheduleIsCurrent(policy: entry?.policy, fingerprint: entry?.fingerprint, under: policy, fingerprints) else { return }
        try await schedule.saveScheduleEntry(Self.planned(policy, secret, previous: entry, now: clock.now()).entry)
        if entry == nil { summary.scheduled += 1 } else { summary.rescheduled += 1 }
    }

    /// After a rotation outside the scheduler (`rotor rotate`): moves the secret's deadline on so the
    /// daemon does not rotate it again at the old one. Planned from its policy when `policies` has
    /// one, else marked due now, which makes the daemon re-plan it (it skips secrets rotated since).
    public func replanAfterRotation(_ id: SecretID, policies: PolicySet?) async throws {
        guard var entry = try await schedule.scheduleEntry(id), let managed = try await engine.state.managedSecret(id) else { return }
        if let policy = policies?.policy(for: id) {
            entry = Self.planned(policy, managed, previous: entry, now: clock.now()).entry
        } else {
            entry.nextDueAt = clock.now()
        }
        try await schedule.saveScheduleEntry(entry)
    }

    /// The schedule entry (and the plan behind it) for a managed secret under a policy, planned at `now`.
    public static func planned(_ policy: RotationPolicy, _ secret: ManagedSecret, previous: ScheduleEntry?, now: Date) -> (entry: ScheduleEntry, plan: SchedulePlan) {
        let facts = ScheduleFacts(
            secret: secret.id, managedSince: secret.createdAt, lastRotatedAt: secret.lastRotatedAt, failedRuns: secret.failedRuns,
            lastFailureAt: previous?.lastFailureAt, status: secret.status, lastReminderAt: previous?.lastReminderAt,
            credentialExpiresAt: secret.credentialExpiresAt)
        let plan = SchedulePlanner.plan(policy, facts, now: now)
        let entry = ScheduleEntry(
            secret: secret.id, policy: policy.name, fingerprint: policy.fingerprint, nextDueAt: plan.nextRotation,
            nextReminderAt: plan.nextReminder, lastReminderAt: previous?.lastReminderAt, lastFailureAt: previous?.lastFailureAt)
        return (entry, plan)
    }

    /// The managed row of `id` (`known`, as the pass read it) with the policy's rotator and options,
    /// registering the secret when rotor does not manage it yet.
    private func ensureManaged(_ id: SecretID, known: ManagedSecret?, policy: RotationPolicy, summary: inout Summary) async throws -> ManagedSecret? {
        if var secret = known {
            let options = Self.options(under: policy, recorded: secret.options, engine.rotators)
            if secret.rotator != policy.rotator || secret.options != options {
                do {
                    try await engine.requireTarget(id, rotator: policy.rotator, options: options) { try await engine.store.getSecretValue(id, .current).value }
                } catch {
                    // One secret that cannot be checked (refused, or its value unreadable) must not stop the pass.
                    logger.error("policy not applied: the secret keeps its rotator, options and schedule", metadata: [
                        "secret": "\(id)", "policy": "\(policy.name)", "error": "\(RotorError.wrapping(error, secret: id))",
                    ])
                    return nil
                }
                try await engine.state.updateRotator(id, rotator: policy.rotator, options: options)
                (secret.rotator, secret.options) = (policy.rotator, options)
            }
            return secret
        }
        // A rotator that records facts from the value (the database user, the Cognito client, GitHub's
        // server) pins whatever the value says when rotor starts managing it: whoever wrote the value
        // first would choose. An operator does that step, after checking the value.
        let unrecorded = ((try? engine.rotators.descriptor(policy.rotator))?.recordedKeys ?? []).filter { policy.options[$0] == nil }
        guard unrecorded.isEmpty else {
            logger.error("not managed automatically: its rotator records \(unrecorded.sorted().joined(separator: ", ")) from the value", metadata: [
                "secret": "\(id)", "policy": "\(policy.name)", "remedy": "check the value, then 'rotor secret manage \(id) --rotator \(policy.rotator)'",
            ])
            return nil
        }
        do {
            summary.registered += 1
            return try await engine.manageExistingSecret(id, rotator: policy.rotator, options: policy.options)
        } catch {
            logger.error("cannot manage secret", metadata: ["secret": "\(id)", "error": "\(error)"])
            return nil
        }
    }

    private func createMissingSecrets(_ policies: PolicySet) async throws -> Int {
        var created = 0
        for policy in policies.policies {
            for matcher in policy.matchers where matcher.isExact {
                guard let id = try? SecretID(matcher.pattern), scope.contains(id) else { continue }
                if (try? await engine.store.describeSecret(id)) != nil { continue }
                let descriptor = try engine.rotators.descriptor(policy.rotator)
                guard let value = try await descriptor.initialValue(policy.options, store: engine.store) else {
                    logger.notice("not creating a secret whose rotator cannot generate a value", metadata: ["secret": "\(id)"])
                    continue
                }
                try await engine.createManagedSecret(id, rotator: policy.rotator, options: policy.options, initialValue: value)
                created += 1
            }
        }
        return created
    }
}

extension PolicyReconciler {
    /// What a full pass expects of each managed secret, for the store's comparison.
    static func expectation(_ policies: PolicySet, _ fingerprints: [String: String]) -> ReconcileExpectation {
        ReconcileExpectation(
            policies: policies.policies.map { ReconcileExpectation.Policy(name: $0.name, fingerprint: fingerprints[$0.name] ?? $0.fingerprint, rotator: $0.rotator, options: $0.options) },
            policyIndex: { policies.policyIndex(ofRawID: $0) })
    }

    /// True when the secret has its one policy's rotator and options (keeping recorded facts).
    static func hasPolicyConfiguration(_ secret: ManagedConfiguration, _ policies: PolicySet, _ rotators: RotatorRegistry) -> Bool {
        let matching = policies.policies(matchingRawID: secret.id)
        guard matching.count == 1, let policy = matching.first else { return matching.isEmpty }
        return secret.rotator == policy.rotator && secret.options == options(under: policy, recorded: secret.options, rotators)
    }
}
