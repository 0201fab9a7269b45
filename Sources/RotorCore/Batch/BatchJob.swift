import Foundation

/// A batch from request to summary: its plan and caps, who asked, and its audit trail (the request
/// before anything starts, the outcome counts at the end; never a value).
public struct BatchJob: Sendable {
    public let id: String
    public let plan: BatchPlan
    public let limits: BatchLimits
    /// Who was authenticated (the CLI's user, the API's token): the audit events' actor.
    public let actor: String
    /// Who asked, as the request says (the API caller names itself; the CLI's user is the actor).
    public let requestedBy: String
    public let progress: BatchProgress

    public init(id: String = BatchJob.newID(), plan: BatchPlan, limits: BatchLimits, actor: String, requestedBy: String? = nil, startedAt: Date) {
        self.id = id
        self.plan = plan
        self.limits = limits
        self.actor = actor
        self.requestedBy = requestedBy ?? actor
        progress = BatchProgress(total: plan.items.count, startedAt: startedAt)
    }

    public static func newID() -> String { "batch-" + UUID().uuidString.prefix(8).lowercased() }

    /// Runs the batch through `engine` (each secret by `rotate`, default the engine's own run).
    /// Throws, having started nothing, when the request cannot be recorded in the audit log.
    @discardableResult
    public func run(
        _ engine: RotationEngine, slots: RotationSlots? = nil, rotate: (@Sendable (BatchItem) async -> BatchResult)? = nil,
        onResult: @escaping @Sendable (BatchResult) -> Void = { _ in }
    ) async throws -> BatchProgress.Snapshot {
        let trigger = "batch:\(id)"
        let rotate = rotate ?? { item in await engine.rotateForBatch(item, trigger: trigger) }
        do {
            try await engine.state.appendAudit(event(engine, "batch-requested", outcome: "started",
                    "\(id) requested by \(requestedBy): \(plan.selection), \(plan.items.count) secret(s), at most \(limits.maxConcurrent) at once and \(limits.maxConcurrentPerRotator) per rotator, \(limits.stopOnError ? "stop" : "continue") on error\(plan.notes.isEmpty ? "" : "; \(plan.notes.count) secret(s) whose dependencies could not be read")"))
        } catch {
            progress.stop("not started: the request could not be recorded in the audit log")
            progress.ended(at: engine.clock.now())
            throw error
        }
        let runner = BatchRunner(plan: plan, limits: limits, clock: engine.clock, slots: slots, rotate: rotate)
        await runner.run(progress, onResult: onResult)
        let snapshot = progress.snapshot
        await audit(engine, "batch-finished", outcome: snapshot.worst == .rotated ? "succeeded" : snapshot.worst.rawValue,
                    "\(id) requested by \(requestedBy): \(plan.selection): \(Self.counts(snapshot))\(snapshot.stopReason.map { "; \($0)" } ?? "")")
        return snapshot
    }

    /// "rotated=198 failed=1 skipped=1", outcomes that occurred only.
    public static func counts(_ snapshot: BatchProgress.Snapshot) -> String {
        BatchOutcome.allCases.compactMap { outcome in
            let count = snapshot.count(outcome)
            return count == 0 ? nil : "\(outcome.rawValue)=\(count)"
        }.joined(separator: " ")
    }

    func event(_ engine: RotationEngine, _ operation: String, outcome: String, _ detail: String) -> AuditEvent {
        AuditEvent(at: engine.clock.now(), actor: actor, secret: nil, operation: operation, outcome: outcome, detail: detail)
    }

    func audit(_ engine: RotationEngine, _ operation: String, outcome: String, _ detail: String) async {
        do { try await engine.state.appendAudit(event(engine, operation, outcome: outcome, detail)) } catch {
            engine.logger.error("could not record the batch's audit event", metadata: ["batch": "\(id)", "error": "\(error)"])
        }
    }
}
