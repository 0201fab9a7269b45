import Foundation

/// Where a policy was written, for error messages and `rotor plan --explain`.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
}

/// When a policy's secrets rotate: every fixed period after the last rotation, or at cron times.
public enum RotationSchedule: Sendable, Hashable, CustomStringConvertible {
    case every(PolicyDuration)
    case cron(CronExpression, TimeZone)

    public var description: String {
        switch self {
        case .every(let period): "every \(period)"
        case .cron(let expression, let zone): "cron \"\(expression)\" \(zone.identifier)"
        }
    }
}

/// Whether the daemon rotates a policy's secrets, or only reminds people to.
public enum RotationMode: Sendable, Hashable {
    case automatic
    /// Never rotated by the daemon; reminders start `remindBefore` ahead of `maxAge`.
    case manual(maxAge: PolicyDuration, remindBefore: PolicyDuration)
}

/// A rotation policy from `schedules/`: which secrets, which rotator, when, and how failures are handled.
public struct RotationPolicy: Sendable, Hashable {
    public var name: String
    public var matchers: [SecretMatcher]
    public var rotator: RotatorKind
    public var options: RotatorOptions
    public var schedule: RotationSchedule?
    public var window: RotationWindow?
    public var jitter: PolicyDuration
    public var mode: RotationMode
    /// The oldest a secret may get; for `every`, the period unless set.
    public var maxAge: PolicyDuration?
    public var retry: RetryPolicy
    /// Delay before a failed secret is tried again, doubling per failed run, capped.
    public var failureBackoff: (initial: PolicyDuration, maximum: PolicyDuration)
    public var enabled: Bool
    /// Secrets (ids or globs) this policy's secrets use while rotating: a batch rotates those first.
    public var dependsOn: [SecretMatcher]
    /// What tells consumers of this policy's secrets to pick up a new value after finishSecret.
    public var reload: [ReloadHook]
    /// Services of the same environment granted to read this policy's secrets besides their own
    /// service (`readers:`): a read by one of them is not suspicious.
    public var readers: [String] = []
    public var location: SourceLocation

    public init(
        name: String, matchers: [SecretMatcher], rotator: RotatorKind, options: RotatorOptions = RotatorOptions(),
        schedule: RotationSchedule?, window: RotationWindow? = nil, jitter: PolicyDuration = PolicyDuration(seconds: 0),
        mode: RotationMode = .automatic, maxAge: PolicyDuration? = nil, retry: RetryPolicy = RetryPolicy(),
        failureBackoff: (initial: PolicyDuration, maximum: PolicyDuration) = (PolicyDuration(seconds: 3600), PolicyDuration(seconds: 86_400)),
        enabled: Bool = true, dependsOn: [SecretMatcher] = [], reload: [ReloadHook] = [],
        location: SourceLocation = SourceLocation(file: "<memory>", line: 1, column: 1)
    ) {
        self.dependsOn = dependsOn
        self.reload = reload
        self.name = name
        self.matchers = matchers
        self.rotator = rotator
        self.options = options
        self.schedule = schedule
        self.window = window
        self.jitter = jitter
        self.mode = mode
        self.maxAge = maxAge
        self.retry = retry
        self.failureBackoff = failureBackoff
        self.enabled = enabled
        self.location = location
    }

    public func matches(_ id: SecretID) -> Bool { matches(rawID: id.rawValue) }
    /// Whether the id spelled `rawID` (as stored) matches.
    public func matches(rawID: String) -> Bool { matchers.contains { $0.matches(rawID: rawID) } }

    /// The maximum age that alerts fire against: `max_age` if set, else 1.25 × the period of an
    /// `every` schedule (room for windows and a few retries before anyone is paged).
    public var effectiveMaxAge: PolicyDuration? {
        if let maxAge { return maxAge }
        if case .manual(let maxAge, _) = mode { return maxAge }
        if case .every(let period)? = schedule { return PolicyDuration(seconds: period.seconds + period.seconds / 4) }
        return nil
    }

    /// Changes whenever something that affects when secrets rotate changes.
    public var fingerprint: String {
        let parts: [String] = [
            name, rotator.rawValue, schedule.map(\.description) ?? "-", window?.description ?? "-", jitter.description,
            "\(mode)", maxAge?.description ?? "-", failureBackoff.initial.description, failureBackoff.maximum.description, "\(enabled)",
        ]
        return String(StableHash.fnv1a(parts.joined(separator: "|")), radix: 16)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.fingerprint == rhs.fingerprint && lhs.matchers == rhs.matchers && lhs.options == rhs.options && lhs.dependsOn == rhs.dependsOn && lhs.reload == rhs.reload && lhs.readers == rhs.readers }
    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }
}

/// A hash that is the same in every process and on every machine (Swift's `Hasher` is seeded per run).
public enum StableHash {
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// A number in [0, 1) derived from `text`.
    public static func unit(_ text: String) -> Double {
        var value = fnv1a(text)
        // Mix the bits (splitmix64's finaliser) so that similar ids spread evenly.
        value = (value ^ (value >> 30)) &* 0xbf58_476d_1ce4_e5b9
        value = (value ^ (value >> 27)) &* 0x94d0_49bb_1331_11eb
        value ^= value >> 31
        return Double(value >> 11) / Double(UInt64(1) << 53)
    }
}
