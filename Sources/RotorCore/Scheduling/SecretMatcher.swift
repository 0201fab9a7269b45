/// Which secrets a policy covers: an exact id, or a glob on ids where `*` matches within one
/// segment and `**` across segments (e.g. `/prod/github-integration/api-token/*`, `/*/*/encryption-key/*`).
public struct SecretMatcher: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String

    /// - Parameter pattern: an id, a glob, or a Secrets Manager ARN (matched by its name).
    public init(_ pattern: String) throws(RotorError) {
        if pattern.hasPrefix("arn:") {
            self.pattern = try SecretID(nameOrARN: pattern).rawValue
            return
        }
        guard pattern.hasPrefix("/") else {
            throw RotorError(.invalidParameter, "match pattern '\(pattern.prefix(80))' must start with '/' like a secret id")
        }
        if !pattern.contains("*") { _ = try SecretID(pattern) }
        self.pattern = pattern
    }

    public var description: String { pattern }
    public var isExact: Bool { !pattern.contains("*") }

    public func matches(_ id: SecretID) -> Bool { Self.glob(Array(pattern.utf8)[...], Array(id.rawValue.utf8)[...]) }

    /// Whether `text` matches `pattern`; `*` stops at `/`, `**` does not.
    static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        let slash = UInt8(ascii: "/"), star = UInt8(ascii: "*")
        guard first == star else {
            guard let head = text.first, head == first else { return false }
            return glob(pattern.dropFirst(), text.dropFirst())
        }
        let deep = pattern.dropFirst().first == star
        let rest = pattern.dropFirst(deep ? 2 : 1)
        var index = text.startIndex
        while true {
            if glob(rest, text[index...]) { return true }
            guard index < text.endIndex, deep || text[index] != slash else { return false }
            index += 1
        }
    }
}
