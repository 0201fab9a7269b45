import struct Foundation.Date

/// What happened to one step in one run.
public struct StepReport: Sendable, Hashable {
    public var step: JournalStep
    public var attempts: Int
    public var duration: Duration
    public var outcome: StepOutcome
    public var note: String?

    public init(step: JournalStep, attempts: Int, duration: Duration, outcome: StepOutcome, note: String? = nil) {
        self.step = step
        self.attempts = attempts
        self.duration = duration
        self.outcome = outcome
        self.note = note
    }
}

/// The result of one ``RotationEngine/rotate(_:suppliedValue:trigger:)`` run.
public struct RotationReport: Sendable {
    public var secret: SecretID
    public var token: VersionID
    /// Whether this run resumed an earlier, interrupted rotation.
    public var resumed: Bool
    public var outcome: RotationOutcome
    public var steps: [StepReport]
    public var error: RotorError?
    public var startedAt: Date
    public var endedAt: Date

    /// Whether the secret now has a new, tested `AWSCURRENT`.
    public var succeeded: Bool { outcome == .succeeded }
}

/// A rotation in flight inside one run: the journal record plus what this run did.
struct RotationRun: Sendable {
    var record: RotationRecord
    var resumed: Bool
    var steps: [StepReport] = []
    let runStartedAt: Date
    /// What this run knows of the secret between its own calls (empty after a failed attempt).
    var snapshot = SecretSnapshot()
    /// What this run did that is not journaled yet (the new rotation, the last step's success, steps
    /// with no side effect): the next journal write carries it.
    var backlog = JournalBacklog.none
    /// Until when this run's last journal write or renewal extended the lock (at least).
    var lockExtendedUntil: Date?
    /// What the rotator's finishSecret hook reported for the audit log, recorded with the run's end.
    var rotatorAudit: [AuditEvent] = []

    /// Adds an attempt's end to the backlog: the end of its journaled intent, or the whole attempt of
    /// a step that had none (``RotationStep/changesTheOutside(_:)``).
    mutating func carry(_ step: RotationStep, attempt: Int, intent: Int64?, started: Date, outcome: StepOutcome, error: String?, at: Date) {
        let completes = outcome == .failed ? nil : step
        if let intent {
            backlog.end = StepEnd(id: intent, outcome: outcome, error: error, at: at, completes: completes)
        } else {
            backlog.attempts.append(StepAttempt(
                step: JournalStep(step), attempt: attempt, startedAt: started, endedAt: at, outcome: outcome, error: error, completes: completes))
        }
    }

    var secret: SecretID { record.secret }
    var token: VersionID { record.token }

    func report(outcome: RotationOutcome, error: RotorError?, endedAt: Date) -> RotationReport {
        RotationReport(
            secret: secret, token: token, resumed: resumed, outcome: outcome, steps: steps, error: error,
            startedAt: runStartedAt, endedAt: endedAt)
    }
}
