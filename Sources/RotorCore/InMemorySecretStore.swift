import struct Foundation.Date

/// A ``SecretStore`` in memory, with the same semantics as every other store (it shares
/// ``VersionLedger``). For fast tests and dry runs.
public actor InMemorySecretStore: SecretStore {
    private struct Entry {
        var description: SecretDescription
        var values: [VersionID: SecretValue]
    }

    private var secrets: [SecretID: Entry] = [:]
    private let clock: any RotorClock

    public init(clock: any RotorClock = SystemClock()) { self.clock = clock }

    public func createSecret(_ input: CreateSecretInput) throws -> SecretDescription {
        if let existing = secrets[input.id] {
            // CreateSecret is idempotent for the same token and value, as in Secrets Manager.
            guard let token = input.initialVersionID, let value = input.initialValue,
                  existing.values[token]?.constantTimeEquals(value) == true else {
                throw RotorError(.secretExists, "a secret with this id already exists", secret: input.id)
            }
            return existing.description
        }
        let now = clock.now()
        var entry = Entry(
            description: SecretDescription(id: input.id, description: input.description, createdAt: now, lastChangedAt: now, tags: input.tags, versions: []),
            values: [:])
        if let value = input.initialValue {
            try Self.apply(put: PutSecretValueInput(id: input.id, token: input.initialVersionID ?? Self.newVersionID(), value: value, stages: nil), to: &entry, now: now)
        }
        secrets[input.id] = entry
        return entry.description
    }

    public func describeSecret(_ id: SecretID) throws -> SecretDescription { try entry(id).description }

    public func getSecretValue(_ id: SecretID, _ selector: VersionSelector) throws -> SecretVersionValue {
        let entry = try entry(id)
        let ledger = entry.description.ledger
        let versionID = try ledger.resolve(selector, secret: id)
        guard let value = entry.values[versionID], let version = ledger.entry(versionID) else {
            throw RotorError(.versionNotFound, "no secret value for \(selector)", secret: id)
        }
        return SecretVersionValue(secret: id, versionID: versionID, stages: version.stages.sorted(), value: value, createdAt: version.createdAt)
    }

    @discardableResult
    public func putSecretValue(_ input: PutSecretValueInput) throws -> VersionLedger.PutOutcome {
        var entry = try entry(input.id)
        let outcome = try Self.apply(put: input, to: &entry, now: clock.now())
        secrets[input.id] = entry
        return outcome
    }

    public func updateSecretVersionStage(_ input: UpdateVersionStageInput) throws {
        var entry = try entry(input.id)
        var ledger = entry.description.ledger
        try ledger.updateStage(input.stage, moveTo: input.moveTo, removeFrom: input.removeFrom, secret: input.id)
        entry.description.versions = ledger.versions
        entry.description.lastChangedAt = clock.now()
        if input.stage == .current { entry.description.lastRotatedAt = clock.now() }
        secrets[input.id] = entry
    }

    public func getRandomPassword(_ policy: PasswordPolicy) throws -> SecretValue {
        try policy.generate()
    }

    public func listSecrets(in scope: EnvironmentScope) -> [SecretDescription] {
        secrets.values.map(\.description).filter { scope.contains($0.id) }.sorted { $0.id < $1.id }
    }

    private func entry(_ id: SecretID) throws(RotorError) -> Entry {
        guard let entry = secrets[id] else {
            throw RotorError(.secretNotFound, "secret not found", secret: id, remedy: "check the id with 'rotor secret list'")
        }
        return entry
    }

    @discardableResult
    private static func apply(put input: PutSecretValueInput, to entry: inout Entry, now: Date) throws(RotorError) -> VersionLedger.PutOutcome {
        var ledger = entry.description.ledger
        let same = entry.values[input.token].map { $0.constantTimeEquals(input.value) } ?? false
        let outcome = try ledger.put(input.token, stages: input.stages, at: now, sameValue: same, secret: input.id)
        guard outcome == .created else { return outcome }
        entry.values[input.token] = input.value
        for pruned in ledger.prune(at: now) { entry.values[pruned] = nil }
        entry.description.versions = ledger.versions
        entry.description.lastChangedAt = now
        return outcome
    }

    static func newVersionID() -> VersionID { VersionID(Foundation.UUID().uuidString.lowercased()) }
}

import struct Foundation.UUID
