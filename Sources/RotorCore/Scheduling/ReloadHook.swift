/// What tells a consumer to pick up a secret's new value once its rotation finished, configured per
/// policy (`reload:`). Run through the outbox, at least once, with each outcome in the audit log.
/// None of them ever gets the value: the secret's id and new version only.
public enum ReloadHook: Sendable, Hashable, CustomStringConvertible {
    /// Runs `argv` (an absolute path first) with an empty environment but `PATH`; the notice as one
    /// JSON line on standard input. Exit status 0 is success.
    case command([String])
    /// Sends `signal` (HUP, USR1, USR2, INT or TERM) to the process whose id is in `pidFile`.
    case signal(String, pidFile: String)
    /// POSTs the notice as JSON, signed as the webhook rotator signs (Standard Webhooks) with the key
    /// in `signingKeySecret`. HTTPS, or HTTP to a loopback address only; 2xx is success.
    case webhook(url: String, signingKeySecret: SecretID)

    public static let signals = ["HUP", "USR1", "USR2", "INT", "TERM"]

    /// Its kind, for audit records and metrics.
    public var kind: String {
        switch self {
        case .command: "command"
        case .signal: "signal"
        case .webhook: "webhook"
        }
    }

    public var description: String {
        switch self {
        case .command(let argv): "command \(argv.first ?? "")"
        case .signal(let signal, let pidFile): "signal \(signal) to \(pidFile)"
        case .webhook(let url, _): "webhook \(url)"
        }
    }
}

/// What a reload hook is told: which secret, which version is now `AWSCURRENT`, and when.
public struct ReloadNotice: Codable, Sendable, Equatable {
    public var type = "rotation.finished"
    public let secretId: String
    public let versionId: String
    public let finishedAt: Double
    /// The hook's place in its policy's `reload` list (for the outbox; not sent).
    public let policy: String
    public let hook: Int

    public init(secretId: String, versionId: String, finishedAt: Double, policy: String, hook: Int) {
        self.secretId = secretId
        self.versionId = versionId
        self.finishedAt = finishedAt
        self.policy = policy
        self.hook = hook
    }
}
