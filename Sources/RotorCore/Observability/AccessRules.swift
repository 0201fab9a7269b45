import Foundation

/// Who read which secret, as a consumer (`rotor agent --service`) reports it: reads answered and
/// reads refused with access denied, over a span of time.
public struct AccessReport: Sendable, Hashable {
    public var secret: SecretID
    /// The reading service and its environment.
    public var service: String
    public var environment: String
    /// The reporting host, for the alert's "who".
    public var host: String
    public var reads: Int
    public var denied: Int
    public var first: Date
    public var last: Date
    /// Names this report so a repeat of it is recorded once (the sender's report id, an audit position).
    public var key: String?

    public init(secret: SecretID, service: String, environment: String, host: String, reads: Int, denied: Int, first: Date, last: Date, key: String? = nil) {
        self.key = key
        self.secret = secret
        self.service = service
        self.environment = environment
        self.host = host
        self.reads = reads
        self.denied = denied
        self.first = first
        self.last = last
    }

    public var reader: String { "\(service)@\(environment)" }
}

/// Rules that make a read suspicious, each of which can be turned off, and the denied-reads threshold.
public struct AccessRules: Sendable, Hashable {
    public enum Rule: String, Sendable, CaseIterable {
        /// A service reads a secret outside its own `/{environment}/{service}/` prefix, without a grant.
        case crossService = "cross-service"
        /// A secret is read from an environment other than its own.
        case crossEnvironment = "cross-environment"
        /// More access-denied reads of a secret in the window than the threshold.
        case deniedReads = "denied-reads"
    }

    public var enabled: Set<Rule>
    public var deniedThreshold: Int
    public var window: TimeInterval

    public init(enabled: Set<Rule> = Set(Rule.allCases), deniedThreshold: Int = 5, window: TimeInterval = 600) {
        self.enabled = enabled
        self.deniedThreshold = deniedThreshold
        self.window = window
    }

    /// What fired for one report: `deniedInWindow` is the secret's access-denied reads in the window
    /// ending at the report's last read, this report's included; `policy` is the secret's policy
    /// (its `readers` are the grants).
    public func evaluate(_ report: AccessReport, policy: RotationPolicy?, deniedInWindow: Int) -> [SuspiciousAccess] {
        var found: [SuspiciousAccess] = []
        let secret = report.secret
        if enabled.contains(.crossEnvironment), report.reads > 0, report.environment != secret.environment.name {
            found.append(SuspiciousAccess(rule: .crossEnvironment, report: report,
                                          why: "\(secret) belongs to environment \(secret.environment) but was read \(report.reads) time(s) from \(report.environment)"))
        }
        if enabled.contains(.crossService), report.reads > 0, report.environment == secret.environment.name, report.service != secret.service,
           !(policy?.readers.contains(report.service) ?? false) {
            let grant = policy.map { "policy '\($0.name)' grants it no read (readers:)" } ?? "no policy manages it"
            found.append(SuspiciousAccess(rule: .crossService, report: report,
                                          why: "service \(report.service) read \(secret), outside its own /\(report.environment)/\(report.service)/ prefix, \(report.reads) time(s); \(grant)"))
        }
        if enabled.contains(.deniedReads), report.denied > 0, deniedInWindow > deniedThreshold {
            found.append(SuspiciousAccess(rule: .deniedReads, report: report,
                                          why: "\(deniedInWindow) access-denied reads of \(secret) in \(Int(window)) s exceed the threshold of \(deniedThreshold)"))
        }
        return found
    }
}

/// One rule that fired: who (the reader and host), what (the secret, reads, denied), when, and why.
public struct SuspiciousAccess: Sendable, Hashable {
    public var rule: AccessRules.Rule
    public var report: AccessReport
    public var why: String

    /// The alert's details (metadata only).
    public var details: [String: String] {
        [
            "rule": rule.rawValue, "reader": report.reader, "host": report.host, "reads": "\(report.reads)", "denied": "\(report.denied)",
            "first": report.first.formatted(.iso8601), "last": report.last.formatted(.iso8601), "why": why,
        ]
    }
}

/// The secrets' last reads and the reports behind the access rules, kept by the state store.
public protocol AccessLogStore: Sendable {
    /// Appends reports (and moves each secret's last access); drops reports older than `prunedBefore`.
    /// Returns the reports recorded now: one whose key was recorded before is left out.
    func recordAccess(_ reports: [AccessReport], prunedBefore: Date) async throws -> [AccessReport]
    /// Access-denied reads of `secret` reported with a last read at or after `since`.
    func deniedReads(of secret: SecretID, since: Date) async throws -> Int
    /// The last reported read of each of `secrets` that was read at all.
    func lastAccess(of secrets: [SecretID]) async throws -> [SecretID: LastAccess]
}

/// When a secret was last read, and by whom (`service@environment`).
public struct LastAccess: Sendable, Hashable {
    public var at: Date
    public var reader: String

    public init(at: Date, reader: String) {
        self.at = at
        self.reader = reader
    }
}
