import Foundation
import RotorCore
import RotorPolicies

extension RotationScheduler {
    /// What one tick did.
    public struct TickSummary: Sendable, Equatable {
        public var rotated: [SecretID] = []
        public var failed: [SecretID] = []
        public var reminded: [SecretID] = []
        /// On a shared schedule: this tick claimed as many secrets as it asked for (more may be due).
        public var claimedFully = false
    }

    /// Runs every rotation due now (within the concurrency caps) and, holding the lease, every due
    /// reminder. Its cost grows with the number of due secrets: due entries come from an index range
    /// scan. On a shared schedule it runs only what it claims, as many as it runs at once.
    @discardableResult
    public func tick() async throws -> TickSummary {
        var summary = TickSummary()
        if claims == nil || state.isLeader { summary.reminded = try await remind(now: clock.now()) }
        let due: [ScheduleEntry]
        if let claims {
            // As many as run at once (per rotator kind too): a claim waiting for a slot would lapse.
            let limit = claimLimit
            due = try await claims.claimDue(
                at: clock.now(), limit: limit, in: configuration.scope, owner: engine.configuration.lockOwner, ttl: engine.configuration.lockTTL,
                caps: configuration.fleetCaps)
            summary.claimedFully = due.count == limit
        } else {
            due = try await schedule.dueRotations(at: clock.now(), limit: configuration.maxConcurrent * 64, in: configuration.scope)
        }
        let outcomes = await runConcurrently(due, underLease: claims == nil && state.isLeader)
        for (id, succeeded) in outcomes {
            if succeeded { summary.rotated.append(id) } else { summary.failed.append(id) }
        }
        metrics.pendingAlerts(try await schedule.pendingAlertCount())
        return summary
    }

    /// Runs rotations within the daemon's caps (shared with its batches).
    /// - Parameter underLease: the tick started holding the lease; losing it stops further dispatch.
    func runConcurrently(_ entries: [ScheduleEntry], underLease: Bool = false) async -> [(SecretID, Bool)] {
        var items: [BatchItem] = []
        let requests = Dictionary(entries.compactMap { entry in entry.requestedAt.map { (entry.secret, $0) } }, uniquingKeysWith: max)
        let claimedAt = clock.now()
        for entry in entries {
            let kind = (try? await engine.state.managedSecret(entry.secret))?.rotator ?? "unknown"
            items.append(BatchItem(id: entry.secret, rotator: kind, policy: entry.policy))
        }
        let progress = BatchProgress(total: items.count, startedAt: clock.now())
        let limits = BatchLimits(maxConcurrent: configuration.maxConcurrent, maxConcurrentPerRotator: configuration.maxConcurrentPerRotator)
        let runner = BatchRunner(plan: BatchPlan(selection: BatchSelection(), items: items), limits: limits, clock: clock, slots: slots) { item in
            if underLease, let refused = self.refusedWithoutLease(item, progress) { return refused }
            let policy = self.state.policies?.policies.first { $0.name == item.policy }
            if self.claims != nil, policy == nil, let skipped = await self.unclaimWithoutPolicy(item, requestedAt: requests[item.id]) { return skipped }
            let request = requests[item.id].map { Request(at: $0, claimedAt: claimedAt) }
            return item.result(await self.rotate(item.id, policy: policy, request: request) ? .rotated : .failed)
        }
        let results = await runner.run(progress)
        // A request whose secret was never started (the lease was lost, the daemon is stopping) goes back.
        for result in results where result.outcome == .notStarted { await restoreRequest(result.id, requests[result.id]) }
        return results.filter { $0.outcome != .notStarted }.map { ($0.id, $0.outcome == .rotated) }
    }

    /// A claimed secret whose policy this daemon does not know (its policy files differ from the
    /// lease holder's, during a rolling change): never rotated on a schedule without a policy's say.
    /// The claim is let go; the entry stays due until the lease holder re-plans it.
    func unclaimWithoutPolicy(_ item: BatchItem, requestedAt: Date?) async -> BatchResult? {
        // A rotation already open is finished whatever the policy says.
        let open: RotationRecord?
        do { open = try await engine.state.openRotation(for: item.id) } catch { return nil }
        guard open == nil else { return nil }
        await restoreRequest(item.id, requestedAt)
        try? await engine.state.releaseSecretLock(item.id, owner: engine.configuration.lockOwner)
        logger.warning("claimed a secret whose policy this daemon's files do not have; left to the daemons that have it",
                       metadata: ["secret": "\(item.id)", "policy": "\(item.policy ?? "-")"])
        return item.result(.notStarted, error: "no policy \(item.policy ?? "-") here")
    }

    /// Rotates one secret, then re-plans it; every outcome (even a refusal) moves its deadline on,
    /// so a broken secret can never make the loop spin. With `resumeOnly`, only a rotation already
    /// open is finished; none is started. `request`: someone asked for this rotation
    /// (`rotor rotate --queue`; the claim took the request), so it runs whatever the policy says.
    @discardableResult
    func rotate(_ id: SecretID, policy: RotationPolicy?, resumeOnly: Bool = false, request: Request? = nil) async -> Bool {
        let requestedAt = request?.at
        var succeeded = false
        var failure: String?
        var outcome = "refused"
        do {
            let startIf: (@Sendable (ManagedSecret) -> Bool)? = resumeOnly ? { @Sendable _ in false } : requestedAt != nil ? nil : stillDue(policy)
            let report = try await engine.rotate(id, trigger: requestedAt != nil ? "request" : "schedule", retry: policy?.retry, startIf: startIf)
            succeeded = report.succeeded
            failure = report.error?.description
            outcome = report.outcome.rawValue
            record(report)
        } catch let error as RotorError where error.code == .notDue {
            logger.info("skipping: rotated by another process since the schedule was read", metadata: ["secret": "\(id)"])
            await replan(id, policy: policy, failure: nil)
            return true
        } catch let error as RotorError where error.code == .locked {
            // Another process holds the secret (or a dead one's lock has not lapsed): try again then.
            await restoreUnlessAnswered(id, request)
            await retryWhenUnlocked(id)
            return false
        } catch {
            await restoreUnlessAnswered(id, request)
            failure = "\(error)"
            logger.error("scheduled rotation refused", metadata: ["secret": "\(id)", "error": "\(error)"])
        }
        await replan(id, policy: policy, failure: failure, outcome: outcome)
        return succeeded
    }

    /// A request a claim took: when it was made, and when this daemon claimed it (its own clock).
    struct Request: Sendable {
        let at: Date
        let claimedAt: Date
    }

    /// A claimed request whose rotation did not start (refused, locked, failed before the rotation
    /// opened) goes back; one whose rotation opened, even if it then failed or lost its lock (the
    /// new holder finishes it), is answered.
    func restoreUnlessAnswered(_ id: SecretID, _ request: Request?) async {
        guard let request else { return }
        let latest = try? await engine.state.rotations(of: id, limit: 1).first
        if let latest, latest.startedAt >= request.claimedAt { return }
        await restoreRequest(id, request.at)
    }

    /// A claimed request this daemon did not answer (the secret was locked, or its policy is not
    /// here) goes back to the schedule for the next claimer.
    func restoreRequest(_ id: SecretID, _ requestedAt: Date?) async {
        guard let requestedAt, let claims else { return }
        do { try await claims.restoreRequest(id, requestedAt: requestedAt) } catch {
            logger.warning("could not put back a rotation request; queue it again", metadata: ["secret": "\(id)", "error": "\(error)"])
        }
    }

    /// Whether the policy still wants a rotation now, from the managed secret's current facts.
    func stillDue(_ policy: RotationPolicy?) -> (@Sendable (ManagedSecret) -> Bool)? {
        guard let policy else { return nil }
        let clock = self.clock
        return { secret in
            let plan = PolicyReconciler.planned(policy, secret, previous: nil, now: clock.now()).plan
            return plan.nextRotation.map { $0 <= clock.now() } ?? false
        }
    }

    func retryWhenUnlocked(_ id: SecretID) async {
        // On a shared schedule the holder re-plans it, and the claim comes back when its lock lapses.
        guard claims == nil else { return }
        guard var entry = try? await schedule.scheduleEntry(id) else { return }
        entry.nextDueAt = clock.now().addingTimeInterval(engine.configuration.lockTTL)
        try? await schedule.saveScheduleEntry(entry)
        logger.notice("secret is locked by another process; retrying when its lock lapses", metadata: ["secret": "\(id)"])
    }

    func record(_ report: RotationReport) {
        for step in report.steps { metrics.step(step.step, environment: report.secret.environment, duration: step.duration) }
        if report.succeeded { metrics.lastSuccess(report.secret, at: report.endedAt) }
    }

    /// - Parameter outcome: the run's outcome for the metrics (succeeded, rolled-back, failed, in-progress, refused); `nil`: no run.
    func replan(_ id: SecretID, policy: RotationPolicy?, failure: String?, outcome: String? = nil) async {
        guard let secret = try? await engine.state.managedSecret(id) else { return }
        if let outcome { metrics.rotation(rotator: secret.rotator, environment: id.environment, outcome: outcome) }
        if let failure {
            let quarantined = secret.status == .quarantined
            await alerts.raise(
                quarantined ? .quarantined : .rotationFailed, secret: id,
                quarantined ? "secret quarantined after \(secret.failedRuns) failed runs" : "rotation failed",
                details: ["error": String(failure.prefix(500)), "failedRuns": "\(secret.failedRuns)"])
        }
        guard let policy = policy ?? state.policies?.policy(for: id) else { return }
        var previous = (try? await schedule.scheduleEntry(id))
            ?? ScheduleEntry(secret: id, policy: policy.name, fingerprint: policy.fingerprint, nextDueAt: nil)
        var facts = secret
        if failure != nil {
            previous.lastFailureAt = clock.now()
            // A refused run (locked, stuck) backs off like a failed one.
            facts.failedRuns = max(facts.failedRuns, 1)
        }
        let (entry, plan) = PolicyReconciler.planned(policy, facts, previous: previous, now: clock.now())
        try? await schedule.saveScheduleEntry(entry)
        metrics.nextRotation(id, at: entry.nextDueAt)
        for case .maxAgeAtRisk(let deadline) in plan.alerts {
            await alerts.raise(.maxAgeAtRisk, secret: id, "retries after failures would pass the maximum age", details: ["deadline": deadline.formatted(.iso8601)])
        }
    }

    /// Fires due manual-rotation reminders and schedules the next ones (daily until rotated).
    func remind(now: Date) async throws -> [SecretID] {
        var reminded: [SecretID] = []
        for entry in try await schedule.dueReminders(at: now, limit: 256, in: configuration.scope) {
            guard let policy = state.policies?.policies.first(where: { $0.name == entry.policy }),
                  let secret = try await engine.state.managedSecret(entry.secret) else { continue }
            // Rotated by hand since the reminder was planned: just plan the next one.
            let (fresh, plan) = PolicyReconciler.planned(policy, secret, previous: entry, now: now)
            guard let due = plan.alerts.first(where: { if case .manualRotationDue = $0 { true } else { false } }),
                  case .manualRotationDue(let deadline, let overdue) = due else {
                try await schedule.saveScheduleEntry(fresh)
                continue
            }
            await alerts.raise(.manualRotationDue, secret: entry.secret,
                               overdue ? "manual secret is past its maximum age" : "manual secret is nearing its maximum age",
                               details: ["deadline": deadline.formatted(.iso8601)])
            var reminded_ = entry
            reminded_.lastReminderAt = now
            try await schedule.saveScheduleEntry(PolicyReconciler.planned(policy, secret, previous: reminded_, now: now).entry)
            reminded.append(entry.secret)
        }
        return reminded
    }
}
