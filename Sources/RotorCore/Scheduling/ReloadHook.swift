import Foundation

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
        // Without its query: a receiver's URL may carry a token there.
        case .webhook(let url, _): "webhook \(url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url)"
        }
    }
}

extension ReloadHook: Codable {
    enum CodingKeys: String, CodingKey { case kind, argv, signal, pidFile, url, signingKeySecret }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .kind) {
        case "command": self = .command(try container.decode([String].self, forKey: .argv))
        case "signal": self = .signal(try container.decode(String.self, forKey: .signal), pidFile: try container.decode(String.self, forKey: .pidFile))
        case "webhook":
            self = .webhook(url: try container.decode(String.self, forKey: .url),
                            signingKeySecret: try SecretID(try container.decode(String.self, forKey: .signingKeySecret)))
        default: throw DecodingError.dataCorruptedError(forKey: .kind, in: container, debugDescription: "unknown reload hook kind")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .command(let argv): try container.encode(argv, forKey: .argv)
        case .signal(let signal, let pidFile):
            try container.encode(signal, forKey: .signal)
            try container.encode(pidFile, forKey: .pidFile)
        case .webhook(let url, let key):
            try container.encode(url, forKey: .url)
            try container.encode(key.rawValue, forKey: .signingKeySecret)
        }
    }
}

/// What a reload hook is told: which secret, which version is now `AWSCURRENT`, and when. The
/// outbox keeps the hook itself beside it (as configured when the change was queued), so a later
/// edit of the policy, or a pass that loaded other policies, never runs a different hook.
public struct ReloadNotice: Codable, Sendable, Equatable {
    public var type = "rotation.finished"
    public let secretId: String
    public let versionId: String
    public let finishedAt: Double
    /// The policy and the hook to run (outbox only; not sent).
    public let policy: String
    public let hook: ReloadHook
    /// The audit event that moved `AWSCURRENT` (outbox only): with the hook, what makes a record unique.
    public let position: Int64

    public init(secretId: String, versionId: String, finishedAt: Double, policy: String, hook: ReloadHook, position: Int64) {
        self.secretId = secretId
        self.versionId = versionId
        self.finishedAt = finishedAt
        self.policy = policy
        self.hook = hook
        self.position = position
    }

    /// One record per change and hook, however many processes queue it.
    public var deduplicationKey: String {
        // Sorted keys: the same hook must give the same text in every process.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let hookJSON = (try? encoder.encode(hook)).map { String(decoding: $0, as: UTF8.self) } ?? "\(hook)"
        return "\(position):\(StableHash.fnv1a(hookJSON))"
    }
}
