import struct Foundation.Date
import struct Foundation.TimeInterval

/// One version of a secret as the ledger sees it: no value, only its id, age and labels.
public struct VersionEntry: Sendable, Hashable {
    public let id: VersionID
    public let createdAt: Date
    public var stages: Set<StagingLabel>

    public init(id: VersionID, createdAt: Date, stages: Set<StagingLabel>) {
        self.id = id
        self.createdAt = createdAt
        self.stages = stages
    }

    /// A version with no label is deprecated.
    public var isDeprecated: Bool { stages.isEmpty }
}

/// The versions of one secret and their staging labels, with exactly Secrets Manager's rules.
/// A pure value: stores load it, apply an operation and save the result.
public struct VersionLedger: Sendable, Hashable {
    /// Versions in creation order.
    public private(set) var versions: [VersionEntry]

    /// Secrets Manager keeps at most this many deprecated versions...
    public static let deprecatedVersionLimit = 100
    /// ...but never prunes one younger than this.
    public static let minimumDeprecatedAge: TimeInterval = 24 * 3600
    /// At most this many labels on one version.
    public static let labelLimit = 20

    public init(versions: [VersionEntry] = []) { self.versions = versions }

    public var isEmpty: Bool { versions.isEmpty }

    public func entry(_ id: VersionID) -> VersionEntry? { versions.first { $0.id == id } }

    /// The version carrying `label`, if any (a label sits on at most one version).
    public func holder(of label: StagingLabel) -> VersionID? { versions.first { $0.stages.contains(label) }?.id }

    /// The `VersionIdsToStages` map of DescribeSecret (deprecated versions are listed with no stages).
    public var versionIDsToStages: [VersionID: [StagingLabel]] {
        Dictionary(uniqueKeysWithValues: versions.map { ($0.id, $0.stages.sorted()) })
    }

    /// Resolves a GetSecretValue selector to a version id.
    public func resolve(_ selector: VersionSelector, secret: SecretID) throws(RotorError) -> VersionID {
        let stage = selector.effectiveStage
        let candidate = selector.versionID ?? stage.flatMap(holder(of:))
        guard let id = candidate, let entry = entry(id), stage.map(entry.stages.contains) ?? true else {
            throw RotorError(
                .versionNotFound, "no secret value for \(selector)", secret: secret,
                remedy: "run 'rotor secret describe \(secret)' to see its versions and labels")
        }
        return id
    }

    /// Outcome of ``put(_:stages:at:sameValue:secret:)``.
    public enum PutOutcome: Sendable, Equatable { case created, unchanged }

    /// Applies PutSecretValue's label rules for a new version `token`.
    /// - Parameters:
    ///   - stages: `nil` means `[AWSCURRENT]`; the first version of a secret always gets `AWSCURRENT`.
    ///   - sameValue: for an existing token, whether the stored value equals the new one.
    public mutating func put(
        _ token: VersionID, stages: [StagingLabel]?, at now: Date, sameValue: Bool, secret: SecretID
    ) throws(RotorError) -> PutOutcome {
        if entry(token) != nil {
            guard sameValue else {
                throw RotorError(
                    .tokenInUse, "client request token \(token) is already used by a version with a different value",
                    secret: secret, remedy: "use a new token for a new value")
            }
            return .unchanged
        }
        var labels = Set(stages ?? [.current])
        if versions.isEmpty { labels.insert(.current) }
        try checkLabelLimit(labels.count, secret: secret)
        let previousCurrent = labels.contains(.current) ? holder(of: .current) : nil
        for label in labels { detach(label) }
        versions.append(VersionEntry(id: token, createdAt: now, stages: labels))
        if let previousCurrent, previousCurrent != token {
            detach(.previous)
            attach(.previous, to: previousCurrent)
        }
        return .created
    }

    /// Applies UpdateSecretVersionStage: moves `label` to `moveTo` and/or removes it from `removeFrom`.
    /// Moving `AWSCURRENT` moves `AWSPREVIOUS` to the version it left.
    public mutating func updateStage(
        _ label: StagingLabel, moveTo: VersionID?, removeFrom: VersionID?, secret: SecretID
    ) throws(RotorError) {
        guard moveTo != nil || removeFrom != nil else {
            throw RotorError(.invalidParameter, "UpdateSecretVersionStage needs MoveToVersionId or RemoveFromVersionId", secret: secret)
        }
        for id in [moveTo, removeFrom].compactMap({ $0 }) where entry(id) == nil {
            throw RotorError(.versionNotFound, "version \(id) does not exist", secret: secret)
        }
        let holder = holder(of: label)
        if let removeFrom, holder != removeFrom {
            throw RotorError(
                .invalidParameter, "version \(removeFrom) does not carry staging label \(label)", secret: secret,
                remedy: "pass the version that holds \(label)\(holder.map { " (\($0))" } ?? "")")
        }
        if let moveTo, holder == moveTo { return }
        if let holder, moveTo != nil, removeFrom == nil {
            throw RotorError(
                .invalidParameter, "staging label \(label) is attached to version \(holder); pass it as RemoveFromVersionId to move the label",
                secret: secret)
        }
        if label == .current, moveTo == nil {
            throw RotorError(
                .invalidParameter, "AWSCURRENT cannot be removed, only moved to another version", secret: secret,
                remedy: "move AWSCURRENT with MoveToVersionId")
        }
        if let moveTo { try checkLabelLimit((entry(moveTo)?.stages.count ?? 0) + 1, secret: secret) }
        if let removeFrom { remove(label, from: removeFrom) }
        if let moveTo { attach(label, to: moveTo) }
        if label == .current, let removeFrom, moveTo != nil {
            detach(.previous)
            attach(.previous, to: removeFrom)
        }
    }

    /// Deprecated versions beyond the limit, oldest first, that are old enough to delete.
    public func prunable(at now: Date) -> [VersionID] {
        let deprecated = versions.filter(\.isDeprecated)
        let excess = deprecated.count - Self.deprecatedVersionLimit
        guard excess > 0 else { return [] }
        return deprecated.prefix(excess)
            .filter { now.timeIntervalSince($0.createdAt) >= Self.minimumDeprecatedAge }
            .map(\.id)
    }

    /// Removes the versions returned by ``prunable(at:)``.
    public mutating func prune(at now: Date) -> [VersionID] {
        let doomed = Set(prunable(at: now))
        versions.removeAll { doomed.contains($0.id) }
        return doomed.sorted()
    }

    private func checkLabelLimit(_ count: Int, secret: SecretID) throws(RotorError) {
        guard count <= Self.labelLimit else {
            throw RotorError(.invalidRequest, "a version can carry at most \(Self.labelLimit) staging labels", secret: secret)
        }
    }

    private mutating func detach(_ label: StagingLabel) {
        for index in versions.indices { versions[index].stages.remove(label) }
    }

    private mutating func remove(_ label: StagingLabel, from id: VersionID) {
        guard let index = versions.firstIndex(where: { $0.id == id }) else { return }
        versions[index].stages.remove(label)
    }

    private mutating func attach(_ label: StagingLabel, to id: VersionID) {
        guard let index = versions.firstIndex(where: { $0.id == id }) else { return }
        versions[index].stages.insert(label)
    }
}
