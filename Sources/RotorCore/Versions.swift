/// The id of one version of a secret. During a rotation it is the rotation's token.
public struct VersionID: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    /// Validates a client request token: 32-64 characters of letters, digits and `-`.
    public static func validated(_ raw: String) throws(RotorError) -> VersionID {
        let valid = (32...64).contains(raw.count)
            && raw.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        guard valid else {
            throw RotorError(.invalidParameter, "version id/token '\(raw.prefix(80))' must be 32-64 letters, digits or '-'")
        }
        return VersionID(raw)
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A staging label. `AWSCURRENT`, `AWSPENDING` and `AWSPREVIOUS` have the same meaning as in Secrets Manager.
public struct StagingLabel: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public static let current: StagingLabel = "AWSCURRENT"
    public static let pending: StagingLabel = "AWSPENDING"
    public static let previous: StagingLabel = "AWSPREVIOUS"
    /// rotor's own label, put by a rotation function on the pending version whose testSecret passed:
    /// Secrets Manager keeps no other state between invocations, and finishSecret promotes only a
    /// version that carries it. It is removed once `AWSCURRENT` has moved, or when the rotation is abandoned.
    public static let tested: StagingLabel = "ROTOR_TESTED"

    public init(stringLiteral value: String) { rawValue = value }

    /// Validates a label: 1-256 characters, no whitespace.
    public init(_ raw: String) throws(RotorError) {
        guard (1...256).contains(raw.count), !raw.contains(where: \.isWhitespace) else {
            throw RotorError(.invalidParameter, "staging label '\(raw.prefix(80))' must be 1-256 characters without spaces")
        }
        rawValue = raw
    }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Picks a version as GetSecretValue does: by id, by label, or both (then the version must carry the label).
/// With neither, it selects `AWSCURRENT`.
public struct VersionSelector: Sendable, Hashable, CustomStringConvertible {
    public var versionID: VersionID?
    public var stage: StagingLabel?

    public init(versionID: VersionID? = nil, stage: StagingLabel? = nil) {
        self.versionID = versionID
        self.stage = stage
    }

    public static let current = VersionSelector(stage: .current)
    public static let previous = VersionSelector(stage: .previous)
    public static func pending(_ token: VersionID) -> VersionSelector { VersionSelector(versionID: token, stage: .pending) }

    /// The label actually required: the given one, or `AWSCURRENT` when neither part is set.
    public var effectiveStage: StagingLabel? { versionID == nil && stage == nil ? .current : stage }

    public var description: String {
        [versionID.map { "VersionId \($0)" }, effectiveStage.map { "staging label \($0)" }].compactMap { $0 }.joined(separator: " and ")
    }
}
