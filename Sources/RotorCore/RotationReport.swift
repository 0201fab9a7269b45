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
    /// The end of the last successful step, not journaled yet: the next journal write carries it.
    var unjournaledEnd: StepEnd?

    var secret: SecretID { record.secret }
    var token: VersionID { record.token }

    func report(outcome: RotationOutcome, error: RotorError?, endedAt: Date) -> RotationReport {
        RotationReport(
            secret: secret, token: token, resumed: resumed, outcome: outcome, steps: steps, error: error,
            startedAt: runStartedAt, endedAt: endedAt)
    }
}
