import RotorCore

/// A problem in a policy file, at `file:line:column`, saying what was expected.
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    public let location: SourceLocation
    public let message: String

    public init(_ location: SourceLocation, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// The policies of a directory, or every error found in it.
public struct PolicySet: Sendable {
    public let policies: [RotationPolicy]
    public let files: [String]

    /// Every matcher with the index of its policy, for matching a large fleet without copying policies.
    private let matchers: [(policy: Int, matcher: SecretMatcher)]

    public init(policies: [RotationPolicy], files: [String]) {
        self.policies = policies
        self.files = files
        self.matchers = policies.enumerated().flatMap { index, policy in policy.matchers.map { (index, $0) } }
    }

    /// The index in ``policies`` of the one policy matching the id spelled `rawID` (as stored):
    /// `nil` when none does, `-1` when several do.
    public func policyIndex(ofRawID rawID: String) -> Int? {
        var id = rawID
        return id.withUTF8 { text in
            var found: Int?
            for (policy, matcher) in matchers where policy != found && matcher.matches(utf8: text) {
                if found != nil { return -1 }
                found = policy
            }
            return found
        }
    }

    /// The policy that covers `id`, if any (validation guarantees at most one).
    public func policy(for id: SecretID) -> RotationPolicy? { policies.first { $0.matches(id) } }

    /// Policies matching `id`, for overlap checks.
    public func policies(matching id: SecretID) -> [RotationPolicy] { policies(matchingRawID: id.rawValue) }

    /// Policies matching the id spelled `rawID` (as stored).
    public func policies(matchingRawID rawID: String) -> [RotationPolicy] { policies.filter { $0.matches(rawID: rawID) } }

    /// Errors for secrets that more than one policy matches.
    public func overlaps(among secrets: [SecretID]) -> [PolicyError] {
        secrets.compactMap { id in
            let matching = policies(matching: id)
            guard matching.count > 1 else { return nil }
            return PolicyError(matching[1].location, "secret \(id) is matched by policies \(matching.map { "'\($0.name)'" }.joined(separator: " and ")); a secret may have one policy")
        }
    }
}
