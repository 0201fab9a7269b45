/// The one error type of rotor. It says what happened, to which secret, in which step,
/// and what the operator can do. It never carries a secret value.
public struct RotorError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is; tests and exit codes match on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        // Bad input: nothing was changed.
        public static let invalidSecretID = Code("invalid-secret-id")
        public static let invalidParameter = Code("invalid-parameter")
        public static let invalidInput = Code("invalid-input")
        public static let unknownRotator = Code("unknown-rotator")
        public static let invalidOption = Code("invalid-option")
        public static let environmentMismatch = Code("environment-mismatch")
        // Secret store semantics (Secrets Manager's exceptions).
        public static let secretNotFound = Code("secret-not-found")
        public static let versionNotFound = Code("version-not-found")
        public static let secretExists = Code("secret-exists")
        public static let tokenInUse = Code("token-in-use")
        public static let invalidRequest = Code("invalid-request")
        public static let notManaged = Code("not-managed")
        // Rotation outcomes.
        public static let previousRotationIncomplete = Code("previous-rotation-incomplete")
        /// `AWSCURRENT` was not moved: the version has no value, or has not passed testSecret.
        public static let untestedVersion = Code("untested-version")
        public static let stepFailed = Code("step-failed")
        public static let rolledBack = Code("rolled-back")
        public static let rollbackFailed = Code("rollback-failed")
        public static let pendingRetry = Code("pending-retry")
        public static let quarantined = Code("quarantined")
        public static let nothingToRollBack = Code("nothing-to-roll-back")
        public static let locked = Code("locked")
        /// A conditional rotation found nothing to do (another process rotated the secret meanwhile).
        public static let notDue = Code("not-due")
        // Storage.
        public static let wrongMasterKey = Code("wrong-master-key")
        public static let storeCorrupted = Code("store-corrupted")
        public static let storeUnavailable = Code("store-unavailable")
        public static let transient = Code("transient")
        // Remote services.
        public static let accessDenied = Code("access-denied")
        public static let authenticationFailed = Code("authentication-failed")
        public static let remoteFailure = Code("remote-failure")
        /// rotor refused to talk to a peer it cannot trust with a credential (TLS declined or not
        /// verified, cleartext or MD5 authentication asked for); nothing secret was sent.
        public static let insecurePeer = Code("insecure-peer")
    }

    public var code: Code
    /// What happened, in one sentence, without any secret value.
    public var summary: String
    public var secret: SecretID?
    public var step: RotationStep?
    /// What the operator can do about it.
    public var remedy: String?
    /// Whether retrying the same call may succeed (throttling, timeouts, unreachable targets).
    public var isTransient: Bool

    public init(
        _ code: Code, _ summary: String, secret: SecretID? = nil, step: RotationStep? = nil,
        remedy: String? = nil, isTransient: Bool = false
    ) {
        self.code = code
        self.summary = summary
        self.secret = secret
        self.step = step
        self.remedy = remedy
        self.isTransient = isTransient || code == .transient
    }

    /// A copy that names the secret and step, keeping any already set.
    public func about(_ secret: SecretID?, step: RotationStep? = nil) -> RotorError {
        var copy = self
        copy.secret = copy.secret ?? secret
        copy.step = copy.step ?? step
        return copy
    }

    public var description: String {
        var text = summary
        var context: [String] = []
        if let secret { context.append("secret \(secret)") }
        if let step { context.append("step \(step)") }
        if !context.isEmpty { text += " (\(context.joined(separator: ", ")))" }
        if let remedy { text += ". What to do: \(remedy)" }
        return text
    }
}

extension RotorError {
    /// Wraps any error into a ``RotorError``; a foreign error keeps only its type name and
    /// its description, which rotor's own adapters guarantee to be free of secret values.
    public static func wrapping(_ error: any Error, secret: SecretID? = nil, step: RotationStep? = nil) -> RotorError {
        if let rotorError = error as? RotorError { return rotorError.about(secret, step: step) }
        return RotorError(.stepFailed, "\(type(of: error)): \(String(describing: error).prefix(300))", secret: secret, step: step)
    }
}
