import Foundation

/// A secret's persisted schedule: the next deadline and what it was derived from.
public struct ScheduleEntry: Sendable, Hashable {
    public var secret: SecretID
    public var policy: String
    /// The policy fingerprint the deadline was derived from; a change re-derives it.
    public var fingerprint: String
    /// When the daemon rotates it next; `nil` when the daemon never does (manual, disabled, quarantined).
    public var nextDueAt: Date?
    public var nextReminderAt: Date?
    public var lastReminderAt: Date?
    public var lastFailureAt: Date?
    /// On a shared schedule: when someone asked the daemons to rotate it now (`rotor rotate --queue`),
    /// whatever the policy says; cleared once a daemon has run that rotation.
    public var requestedAt: Date?

    public init(
        secret: SecretID, policy: String, fingerprint: String, nextDueAt: Date?, nextReminderAt: Date? = nil,
        lastReminderAt: Date? = nil, lastFailureAt: Date? = nil
    ) {
        self.secret = secret
        self.policy = policy
        self.fingerprint = fingerprint
        self.nextDueAt = nextDueAt
        self.nextReminderAt = nextReminderAt
        self.lastReminderAt = lastReminderAt
        self.lastFailureAt = lastFailureAt
    }
}

/// An alert waiting to be delivered to webhooks (the outbox), or delivered.
public struct AlertRecord: Sendable, Hashable {
    public var id: Int64
    public var createdAt: Date
    public var kind: String
    public var secret: SecretID?
    /// The JSON document sent to webhooks (metadata only, never a value).
    public var payload: String
    public var attempts: Int

    public init(id: Int64 = 0, createdAt: Date, kind: String, secret: SecretID?, payload: String, attempts: Int = 0) {
        self.id = id
        self.createdAt = createdAt
        self.kind = kind
        self.secret = secret
        self.payload = payload
        self.attempts = attempts
    }
}

/// Durable scheduling state: next deadlines indexed by time, the daemon lease, and the alert outbox.
public protocol SchedulingStore: Sendable {
    func scheduleEntries(in scope: EnvironmentScope) async throws -> [ScheduleEntry]
    func scheduleEntry(_ id: SecretID) async throws -> ScheduleEntry?
    func saveScheduleEntry(_ entry: ScheduleEntry) async throws
    func removeScheduleEntry(_ id: SecretID) async throws
    /// Entries whose rotation is due at `now`, earliest first (an index range scan, not a full scan).
    /// Every method with a scope sees only that scope's secrets (a daemon scoped to one environment).
    func dueRotations(at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry]
    func dueReminders(at now: Date, limit: Int, in scope: EnvironmentScope) async throws -> [ScheduleEntry]
    /// The earliest rotation or reminder deadline, for the scheduler's sleep.
    func earliestDeadline(in scope: EnvironmentScope) async throws -> Date?
    /// Fleet-level figures for `/metrics`, without reading every row: counts kept up to date by
    /// the writes themselves and index look-ups.
    func fleetSummary(in scope: EnvironmentScope, now: Date) async throws -> FleetSummary
    /// The number the latest registration or change of rotator or options took (0 before any).
    func configSequence() async throws -> Int64
    /// Managed secrets registered, or whose rotator or options changed, after `sequence` (an index range).
    func managedSecrets(in scope: EnvironmentScope, changedAfter sequence: Int64) async throws -> [ManagedSecret]
    /// A full reconcile pass's one read: the managed secrets of `scope` whose rotator, options or
    /// schedule entry may differ from what `expected` says their policy wants. The comparison runs
    /// inside the store, so a fleet in line costs no row decoding. Rows come unverified: a pass
    /// re-reads through ``RotationStateStore/managedSecret(_:)`` whatever it goes on to change.
    func reconcileCandidates(in scope: EnvironmentScope, expected: ReconcileExpectation) async throws -> ReconcileCandidates
    /// Which of `ids` rotor manages.
    func managedIDs(among ids: [SecretID]) async throws -> Set<SecretID>
    /// One page of managed secrets in id order, after `after` (exclusive), with their schedule entries.
    func secretPage(in scope: EnvironmentScope, after: SecretID?, limit: Int) async throws -> [(secret: ManagedSecret, entry: ScheduleEntry?)]

    /// Takes or renews the named lease for `owner` until `now + ttl`; `false` when another owner holds it.
    func acquireLease(_ name: String, owner: String, ttl: TimeInterval, now: Date) async throws -> Bool
    func releaseLease(_ name: String, owner: String) async throws
    func leaseHolder(_ name: String, now: Date) async throws -> (owner: String, expiresAt: Date)?

    func enqueueAlert(_ alert: AlertRecord) async throws
    func dueAlerts(at now: Date, limit: Int) async throws -> [AlertRecord]
    func markAlertDelivered(_ id: Int64, at: Date) async throws
    func markAlertFailed(_ id: Int64, error: String, nextAttemptAt: Date) async throws
    func pendingAlertCount() async throws -> Int
    /// The environments that have managed secrets, within `scope` (from the fleet counts, not a scan).
    func fleetEnvironments(in scope: EnvironmentScope) async throws -> [String]
    /// The alerts raised about each of `secrets` since `since`, oldest first (for the status page).
    func recentAlerts(of secrets: [SecretID], since: Date) async throws -> [SecretID: [AlertRecord]]

    /// Audit events after the named cursor that changed which version is `AWSCURRENT` (a rotation's
    /// success, a rollback), oldest first: what feeds the reload hooks' outbox.
    func currentVersionChanges(after position: Int64, limit: Int) async throws -> [CurrentVersionChange]
    /// Queues `records` on `channel` (a record whose deduplication key is already queued is skipped)
    /// and, when `cursor` is given, moves it from `from` to `to`, in one transaction: `false` (nothing
    /// written) when another process moved the cursor first.
    func enqueueOutbox(_ records: [(record: AlertRecord, key: String)], channel: String, cursor: (name: String, from: Int64, to: Int64)?) async throws -> Bool
    /// Takes a due record for one delivery attempt (its next attempt moves to `until`): `false` when
    /// another process took it first.
    func claimOutbox(_ id: Int64, at now: Date, until: Date) async throws -> Bool
    /// Audit events after `position`, oldest first, with their positions: what audit sinks ship.
    func auditEvents(after position: Int64, limit: Int) async throws -> [AuditEvent]
    /// The named cursor's position (0 when it has none).
    func outboxCursor(_ name: String) async throws -> Int64
    func dueOutbox(channel: String, at now: Date, limit: Int) async throws -> [AlertRecord]
    /// Undelivered records of `channel` for one secret, with their last error.
    func pendingOutbox(channel: String, secret: SecretID) async throws -> [(record: AlertRecord, lastError: String?)]
}

/// A daemon as the shared state knows it: who, where, since when, last heard from.
public struct DaemonRecord: Sendable, Hashable {
    /// The daemon's lock owner (what its claims and journal steps are recorded under).
    public var owner: String
    public var host: String
    public var pid: Int32
    public var version: String
    public var startedAt: Date
    public var heartbeatAt: Date

    public init(owner: String, host: String, pid: Int32, version: String, startedAt: Date, heartbeatAt: Date) {
        self.owner = owner
        self.host = host
        self.pid = pid
        self.version = version
        self.startedAt = startedAt
        self.heartbeatAt = heartbeatAt
    }
}

/// The daemons sharing a state (`rotor daemons`): each records a heartbeat as it loops.
public protocol DaemonRegistry: Sendable {
    /// Records `daemon` (its `heartbeatAt` is the heartbeat).
    func heartbeat(_ daemon: DaemonRecord) async throws
    /// The daemons heard from at or after `since`, most recent first.
    func daemons(heardSince since: Date) async throws -> [DaemonRecord]
}

/// An audit event that moved `AWSCURRENT`.
public struct CurrentVersionChange: Sendable, Equatable {
    public var position: Int64
    public var secret: SecretID
    public var at: Date
    /// `rotation.finish` or `secret.rollback`.
    public var operation: String

    public init(position: Int64, secret: SecretID, at: Date, operation: String) {
        self.position = position
        self.secret = secret
        self.at = at
        self.operation = operation
    }
}

/// What a full reconcile pass expects of each managed secret: its one policy's rotator, options,
/// name and fingerprint.
public struct ReconcileExpectation: Sendable {
    public struct Policy: Sendable {
        public var name: String
        public var fingerprint: String
        public var rotator: RotatorKind
        public var options: RotatorOptions

        public init(name: String, fingerprint: String, rotator: RotatorKind, options: RotatorOptions) {
            self.name = name
            self.fingerprint = fingerprint
            self.rotator = rotator
            self.options = options
        }
    }

    /// The policies a secret can match.
    public var policies: [Policy]
    /// The index in ``policies`` of the one policy matching an id spelled as stored; `nil` when
    /// none does, `-1` when several do (never in line: the pass reports it).
    public var policyIndex: @Sendable (String) -> Int?

    public init(policies: [Policy], policyIndex: @escaping @Sendable (String) -> Int?) {
        self.policies = policies
        self.policyIndex = policyIndex
    }
}

/// What a full reconcile pass must look at more closely.
public struct ReconcileCandidates: Sendable {
    /// Managed secrets whose rotator or options may differ from their policy's, or that several
    /// policies match, with what they have now.
    public var configurations: [ManagedConfiguration]
    /// Ids (as stored) whose schedule entry is missing, stale, without a policy or matched by several.
    public var schedules: [String]

    public init(configurations: [ManagedConfiguration], schedules: [String]) {
        self.configurations = configurations
        self.schedules = schedules
    }
}

/// A managed secret's rotator and options, as stored.
public struct ManagedConfiguration: Sendable {
    /// The id as stored.
    public var id: String
    public var rotator: RotatorKind
    public var options: RotatorOptions

    public init(id: String, rotator: RotatorKind, options: RotatorOptions) {
        self.id = id
        self.rotator = rotator
        self.options = options
    }
}

/// The fleet at a glance, for `/metrics`: what an operator alerts on at any fleet size.
public struct FleetSummary: Sendable, Hashable {
    /// Managed secrets per status (every status present, zero when none).
    public var secrets: [SecretStatus: Int]
    /// Secrets whose rotation deadline has passed.
    public var overdue: Int
    /// The earliest rotation deadline.
    public var nextDeadline: Date?
    /// The oldest last successful rotation among secrets rotated at least once.
    public var oldestLastSuccess: Date?

    public init(secrets: [SecretStatus: Int], overdue: Int, nextDeadline: Date?, oldestLastSuccess: Date?) {
        self.secrets = Dictionary(uniqueKeysWithValues: SecretStatus.allCases.map { ($0, secrets[$0] ?? 0) })
        self.overdue = overdue
        self.nextDeadline = nextDeadline
        self.oldestLastSuccess = oldestLastSuccess
    }
}

extension SchedulingStore {
    /// Moves the named cursor from `from` to `to`: `false` when another process moved it first.
    public func moveCursor(_ name: String, from: Int64, to: Int64) async throws -> Bool {
        try await enqueueOutbox([], channel: "", cursor: (name, from, to))
    }
}
