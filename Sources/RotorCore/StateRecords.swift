import struct Foundation.Date

/// Whether the engine may rotate a managed secret.
public enum SecretStatus: String, Sendable, Codable, CaseIterable {
    case active, rotating, failed, quarantined
}

/// A secret that rotor manages: which rotator, its options and its rotation health. Never a value.
public struct ManagedSecret: Sendable, Hashable {
    public var id: SecretID
    public var rotator: RotatorKind
    public var options: RotatorOptions
    public var status: SecretStatus
    /// Consecutive failed runs; reset by a success or `unquarantine`.
    public var failedRuns: Int
    public var lastRotatedAt: Date?
    public var lastError: String?
    public var createdAt: Date
    /// When the current credential stops working at its system (a GitHub token's expiry), as its
    /// rotator read it from the value; `nil` when it does not expire or is not known.
    public var credentialExpiresAt: Date?

    public init(
        id: SecretID, rotator: RotatorKind, options: RotatorOptions, status: SecretStatus = .active,
        failedRuns: Int = 0, lastRotatedAt: Date? = nil, lastError: String? = nil, createdAt: Date, credentialExpiresAt: Date? = nil
    ) {
        self.credentialExpiresAt = credentialExpiresAt
        self.id = id
        self.rotator = rotator
        self.options = options
        self.status = status
        self.failedRuns = failedRuns
        self.lastRotatedAt = lastRotatedAt
        self.lastError = lastError
        self.createdAt = createdAt
    }
}

/// Where a rotation stands. `inProgress` and `rollingBack` are open: the next run resumes them.
public enum RotationOutcome: String, Sendable, Codable, CaseIterable {
    case inProgress = "in-progress"
    case rollingBack = "rolling-back"
    case succeeded
    case rolledBack = "rolled-back"

    public var isOpen: Bool { self == .inProgress || self == .rollingBack }
}

/// The name of a journaled step: one of the four, or the rollback.
public enum JournalStep: String, Sendable, Codable, CaseIterable {
    case createSecret, setSecret, testSecret, finishSecret, rollback

    public init(_ step: RotationStep) { self = JournalStep(rawValue: step.rawValue)! }
}

public enum StepOutcome: String, Sendable, Codable {
    /// Intent written; the step's side effect may or may not have happened.
    case started
    case succeeded
    /// Nothing to do: the step had already been done (idempotency).
    case skipped
    case failed
}

/// One attempt of one step, as journaled.
public struct StepRecord: Sendable, Hashable {
    public var id: Int64
    public var token: VersionID
    public var step: JournalStep
    public var attempt: Int
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: StepOutcome
    public var error: String?
    /// The lock owner (process) that ran this attempt.
    public var owner: String?

    public init(
        id: Int64, token: VersionID, step: JournalStep, attempt: Int, startedAt: Date,
        endedAt: Date? = nil, outcome: StepOutcome = .started, error: String? = nil, owner: String? = nil
    ) {
        self.owner = owner
        self.id = id
        self.token = token
        self.step = step
        self.attempt = attempt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.error = error
    }
}

/// One rotation: its token (the new version id), timing, outcome and steps.
public struct RotationRecord: Sendable, Hashable {
    public var token: VersionID
    public var secret: SecretID
    public var trigger: String
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: RotationOutcome
    /// The last step that completed durably; the next run resumes after it.
    public var lastCompletedStep: RotationStep?
    public var error: String?
    public var steps: [StepRecord]

    public init(
        token: VersionID, secret: SecretID, trigger: String, startedAt: Date, endedAt: Date? = nil,
        outcome: RotationOutcome = .inProgress, lastCompletedStep: RotationStep? = nil, error: String? = nil,
        steps: [StepRecord] = []
    ) {
        self.token = token
        self.secret = secret
        self.trigger = trigger
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.lastCompletedStep = lastCompletedStep
        self.error = error
        self.steps = steps
    }

    /// The steps still to run, in order.
    public var remainingSteps: [RotationStep] {
        RotationStep.allCases.filter { step in lastCompletedStep.map { step > $0 } ?? true }
    }
}

/// An audit event: who did what to which secret, and how it ended. Never a value.
public struct AuditEvent: Sendable, Hashable {
    /// The event's place in the audit log (set when read back; `nil` for an event not yet written).
    public var position: Int64?
    public var at: Date
    public var actor: String
    public var secret: SecretID?
    public var operation: String
    public var outcome: String
    public var detail: String?

    public init(at: Date, actor: String, secret: SecretID?, operation: String, outcome: String, detail: String? = nil) {
        self.at = at
        self.actor = actor
        self.secret = secret
        self.operation = operation
        self.outcome = outcome
        self.detail = detail
    }
}

/// How a run changes a managed secret's health.
public struct SecretHealthChange: Sendable, Hashable {
    public var status: SecretStatus
    public var failedRuns: Int
    /// Set only when a rotation succeeded.
    public var lastRotatedAt: Date?
    public var lastError: String?
    /// With `lastRotatedAt`: when the new credential expires (`nil`: it does not, or it is not known).
    public var credentialExpiresAt: Date?

    public init(status: SecretStatus, failedRuns: Int, lastRotatedAt: Date? = nil, lastError: String? = nil, credentialExpiresAt: Date? = nil) {
        self.credentialExpiresAt = credentialExpiresAt
        self.status = status
        self.failedRuns = failedRuns
        self.lastRotatedAt = lastRotatedAt
        self.lastError = lastError
    }
}
