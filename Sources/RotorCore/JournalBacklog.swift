import struct Foundation.Date

/// What a run did since its last journal commit that needed no durable intent of its own, carried
/// by its next journal write and applied first, in order, in the same transaction. Nothing in a
/// backlog changed anything outside rotor before it was recorded, except the step that `end` ends,
/// whose success is durable before the next side effect.
public struct JournalBacklog: Sendable, Hashable {
    /// A new rotation, journaled with its first step's intent: nothing outside changed before it.
    public var opening: RotationOpening?
    /// The end of the step whose intent was journaled last.
    public var end: StepEnd?
    /// Attempts of steps with no outside side effect (setSecret and testSecret of a rotator without a
    /// target), journaled whole once they ran.
    public var attempts: [StepAttempt]

    public init(opening: RotationOpening? = nil, end: StepEnd? = nil, attempts: [StepAttempt] = []) {
        self.opening = opening
        self.end = end
        self.attempts = attempts
    }

    /// Nothing to carry.
    public static let none = JournalBacklog()

    public var isEmpty: Bool { opening == nil && end == nil && attempts.isEmpty }

    /// Whether it records a step that already ran: failing to write it must not be taken for a failure
    /// of that step (``RotationEngine`` retries such writes).
    public var recordsFinishedWork: Bool { !completedSteps.isEmpty }

    /// The steps it completes, in order.
    public var completedSteps: [RotationStep] { ([end?.completes] + attempts.map(\.completes)).compactMap { $0 } }
}

/// A rotation's first record and the audit event that announces it.
public struct RotationOpening: Sendable, Hashable {
    public var record: RotationRecord
    public var audit: AuditEvent

    public init(record: RotationRecord, audit: AuditEvent) {
        self.record = record
        self.audit = audit
    }
}

/// A whole step attempt, journaled after it ran (it had no outside side effect, so no intent).
public struct StepAttempt: Sendable, Hashable {
    public var step: JournalStep
    public var attempt: Int
    public var startedAt: Date
    public var endedAt: Date
    public var outcome: StepOutcome
    public var error: String?
    /// The step this attempt completes (advances the rotation's last completed step).
    public var completes: RotationStep?

    public init(step: JournalStep, attempt: Int, startedAt: Date, endedAt: Date, outcome: StepOutcome, error: String? = nil, completes: RotationStep?) {
        self.step = step
        self.attempt = attempt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.error = error
        self.completes = completes
    }
}

extension RotationStep {
    /// Whether running this step may change something outside rotor, so that its intent must be
    /// durable before it runs. setSecret and testSecret of a rotator without a target only read.
    public func changesTheOutside(_ rotator: any Rotator) -> Bool {
        rotator.hasTarget || (self != .setSecret && self != .testSecret)
    }
}
