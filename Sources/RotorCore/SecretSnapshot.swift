/// What one run knows of a secret between its own Secrets Manager calls: the labels its last
/// DescribeSecret returned, kept up to date with the run's own writes, and the values it has read
/// or written. Steps of one run (under the secret's lock) reuse it instead of describing and reading
/// again; after a failed attempt the run starts from an empty snapshot, so a retry reads afresh.
/// Values stay in memory only, and `SecretValue` redacts itself.
public struct SecretSnapshot: Sendable {
    public internal(set) var description: SecretDescription?
    var values: [VersionID: SecretValue] = [:]
    /// Versions known to have no value (Secrets Manager's placeholder, or no such version).
    var missing: Set<VersionID> = []

    public init(description: SecretDescription? = nil) {
        self.description = description
    }

    /// Keeps the values `known` holds but forgets its labels, so the next step describes afresh.
    init(values known: SecretSnapshot) {
        values = known.values
        missing = known.missing
    }

    /// The holder of `label` as the snapshot knows it.
    func holder(of label: StagingLabel) -> VersionID? { description?.holder(of: label) }

    mutating func remember(_ value: SecretValue?, of version: VersionID) {
        if let value { values[version] = value; missing.remove(version) } else { missing.insert(version) }
    }

    /// Applies the run's own PutSecretValue to the labels, as Secrets Manager does.
    mutating func applyPut(_ token: VersionID, value: SecretValue, stages: [StagingLabel], at now: Date, secret: SecretID) {
        guard var ledger = description?.ledger else { return }
        do {
            _ = try ledger.put(token, stages: stages, at: now, sameValue: true, secret: secret)
            description?.versions = ledger.versions
            remember(value, of: token)
        } catch {
            self = SecretSnapshot()
        }
    }

    /// Applies the run's own UpdateSecretVersionStage to the labels, as Secrets Manager does.
    mutating func applyStage(_ input: UpdateVersionStageInput) {
        guard var ledger = description?.ledger else { return }
        do {
            try ledger.updateStage(input.stage, moveTo: input.moveTo, removeFrom: input.removeFrom, secret: input.id)
            description?.versions = ledger.versions
        } catch {
            self = SecretSnapshot()
        }
    }
}

import struct Foundation.Date
