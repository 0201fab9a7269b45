import Logging
import struct Foundation.Date
import struct Foundation.DateInterval

/// The four steps of Secrets Manager's rotation protocol, in order.
public enum RotationStep: String, Sendable, CaseIterable, Codable, Comparable, CustomStringConvertible {
    case createSecret, setSecret, testSecret, finishSecret

    public var description: String { rawValue }
    public var next: RotationStep? {
        let all = Self.allCases
        let index = all.firstIndex(of: self)! + 1
        return index < all.count ? all[index] : nil
    }
    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The name of a rotator, such as `random-password`.
public struct RotatorKind: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What the engine does when a step after setSecret fails for good.
public enum FailureDirection: String, Sendable {
    /// Undo: the rotator's rollback re-applies the current value; `AWSPENDING` is removed.
    case rollBack = "roll-back"
    /// Keep the pending version and finish it in a later run with the same token.
    case rollForward = "roll-forward"
}

/// What every step receives besides its own request.
public struct RotationContext: Sendable {
    public let secret: SecretID
    /// The rotation token, which is the new version's id.
    public let token: VersionID
    /// The secret store, for GetRandomPassword and reads a rotator may need.
    public let store: any SecretStore
    /// A logger with `secret`, `token` and `step` metadata already set.
    public let logger: Logger
    public let now: Date
    /// When earlier attempts of this step for this token ran (rotor's journal: failed attempts, and
    /// interrupted ones up to the step timeout); empty when there were none or it is not known (a
    /// rotation function invoked by Secrets Manager). A rotator can tell by it what an interrupted
    /// attempt left at its target.
    public let earlierAttempts: [DateInterval]

    public init(secret: SecretID, token: VersionID, store: any SecretStore, logger: Logger, now: Date, earlierAttempts: [DateInterval] = []) {
        self.secret = secret
        self.token = token
        self.store = store
        self.logger = logger
        self.now = now
        self.earlierAttempts = earlierAttempts
    }
}

/// Input of createSecret: the current value, plus a value supplied by an operator (manual rotation).
public struct CreateSecretRequest: Sendable {
    /// The `AWSCURRENT` value. Read only for rotators whose ``Rotator/createReadsCurrent`` is true;
    /// reading it otherwise is a rotator bug, reported as an error rather than an empty value.
    public var current: SecretValue {
        get throws(RotorError) {
            guard let currentValue else {
                throw RotorError(.stepFailed, "the rotator read the current value in createSecret but declared createReadsCurrent = false",
                                 step: .createSecret, remedy: "the rotator must declare createReadsCurrent = true")
            }
            return currentValue
        }
    }
    let currentValue: SecretValue?
    public var suppliedValue: SecretValue?
    public init(current: SecretValue?, suppliedValue: SecretValue? = nil) {
        currentValue = current
        self.suppliedValue = suppliedValue
    }
}
public struct CreateSecretResponse: Sendable {
    public var newValue: SecretValue
    public init(newValue: SecretValue) { self.newValue = newValue }
}
/// Input of setSecret: apply `pending` to the target; `previous` helps recover an interrupted run.
public struct SetSecretRequest: Sendable {
    public var current: SecretValue
    public var pending: SecretValue
    public var previous: SecretValue?
    public init(current: SecretValue, pending: SecretValue, previous: SecretValue?) {
        self.current = current
        self.pending = pending
        self.previous = previous
    }
}
public struct SetSecretResponse: Sendable { public init() {} }
public struct TestSecretRequest: Sendable {
    public var pending: SecretValue
    public init(pending: SecretValue) { self.pending = pending }
}
public struct TestSecretResponse: Sendable { public init() {} }
/// Input of finishSecret's rotator hook, run after `AWSCURRENT` moved to the new version (and again
/// when a finishSecret interrupted after the move is repeated): the place to drop what only the
/// replaced value needed (remove the old password once consumers are told to use the new one).
public struct FinishSecretRequest: Sendable {
    /// The new value, now `AWSCURRENT`.
    public var promoted: SecretValue
    /// The value it replaced, now `AWSPREVIOUS` (`nil` when no version carries that label).
    public var replaced: SecretValue?
    public init(promoted: SecretValue, replaced: SecretValue?) {
        self.promoted = promoted
        self.replaced = replaced
    }
}
public struct FinishSecretResponse: Sendable {
    /// What the hook did at the target that belongs in the audit log (a revocation and its proof).
    public var audit: [RotatorAuditNote]
    public init(audit: [RotatorAuditNote] = []) { self.audit = audit }
}

/// An event a rotator reports for the audit log, recorded with the rotation's end. Never a value.
public struct RotatorAuditNote: Sendable, Hashable {
    /// E.g. `github.revoke-previous`.
    public var operation: String
    public var outcome: String
    public var detail: String
    public init(operation: String, outcome: String, detail: String) {
        self.operation = operation
        self.outcome = outcome
        self.detail = detail
    }
}
/// Input of rollback: make the target accept `restore` again; `discard` is the value being abandoned.
public struct RollbackRequest: Sendable {
    public var restore: SecretValue
    public var discard: SecretValue?
    public init(restore: SecretValue, discard: SecretValue?) {
        self.restore = restore
        self.discard = discard
    }
}

/// A plug-in that rotates one kind of credential. The engine owns the labels and the journal;
/// a rotator makes the new value (createSecret), applies it to its target (setSecret) and proves
/// it works (testSecret). Every step must be idempotent for a given token.
public protocol Rotator: Sendable {
    var kind: RotatorKind { get }
    /// What happens when a step after setSecret fails for good. Default: roll back.
    var afterSetFailure: FailureDirection { get }
    /// Whether the rotator changes an outside system. Only then does the engine call setSecret,
    /// the finishSecret hook (after `AWSCURRENT` moved) and rollback; a rotator without a target only makes and tests values,
    /// and its testSecret must not change anything (the engine journals it after it ran, not before).
    var hasTarget: Bool { get }
    /// Whether createSecret uses the current value (to keep a JSON secret's other fields, or to reach
    /// the target). When false the executor skips that GetSecretValue. Default: true.
    var createReadsCurrent: Bool { get }
    /// Whether the credential's own system learns each new value (a database, GitHub, Cognito, a
    /// plug-in's target). Default: ``hasTarget``; a probe that only checks the previous value does not count.
    var tellsTheCredentialsSystem: Bool { get }
    /// Whether createSecret's new value comes from an operator (the `manual` rotator), not from the
    /// rotator itself. Default: false.
    var valueComesFromOperator: Bool { get }
    /// Whether this kind's credentials expire at their system (GitHub tokens): then the engine
    /// records ``credentialExpiry(of:)`` of each promoted value for the planner. Default: false.
    var credentialsExpire: Bool { get }
    /// When a value stops working at its system (a token's expiry written in the value), for the
    /// planner's reminders and maximum age; `nil` when it does not expire or the value does not say.
    func credentialExpiry(of value: SecretValue) -> Date?
    /// Other secrets this rotator reads while it rotates (a master credential, a signing key), so a
    /// batch rotates them before, never beside, this secret. `current` reads this secret's value, for
    /// rotators that name them in it. Default: none.
    func secretsUsed(of secret: SecretID, current: @Sendable () async throws -> SecretValue) async throws -> [SecretUse]

    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse
    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse
    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws
}

extension Rotator {
    public var afterSetFailure: FailureDirection { .rollBack }
    public var hasTarget: Bool { false }
    public var createReadsCurrent: Bool { true }
    public var valueComesFromOperator: Bool { false }
    public var tellsTheCredentialsSystem: Bool { hasTarget }
    public var credentialsExpire: Bool { false }
    public func credentialExpiry(of value: SecretValue) -> Date? { nil }
    public func secretsUsed(of secret: SecretID, current: @Sendable () async throws -> SecretValue) async throws -> [SecretUse] { [] }
    public func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse { .init() }
    public func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse { .init() }
    public func rollback(_ request: RollbackRequest, context: RotationContext) async throws {}
}

/// A secret that a rotator reads while rotating another one, and why (for `rotor plan --explain`).
public struct SecretUse: Sendable, Hashable {
    /// The id or ARN as the option or value names it.
    public let secret: String
    public let why: String

    public init(secret: String, why: String) {
        self.secret = secret
        self.why = why
    }
}
