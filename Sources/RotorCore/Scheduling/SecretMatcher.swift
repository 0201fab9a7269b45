/// Which secrets a policy covers: an exact id, or a glob on ids where `*` matches within one
/// segment and `**` across segments (e.g. `/prod/github-integration/api-token/*`, `/*/*/encryption-key/*`).
public struct SecretMatcher: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    /// The pattern's UTF-8, kept so matching a large fleet allocates nothing per id.
    private let bytes: [UInt8]

    /// - Parameter pattern: an id, a glob, or a Secrets Manager ARN (matched by its name).
    public init(_ pattern: String) throws(RotorError) {
        if pattern.hasPrefix("arn:") {
            self.pattern = try SecretID(nameOrARN: pattern).rawValue
            self.bytes = Array(self.pattern.utf8)
            return
        }
        guard pattern.hasPrefix("/") else {
            throw RotorError(.invalidParameter, "match pattern '\(pattern.prefix(80))' must start with '/' like a secret id")
        }
        if !pattern.contains("*") { _ = try SecretID(pattern) }
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

    public var description: String { pattern }
    public var isExact: Bool { !pattern.contains("*") }

    public func matches(_ id: SecretID) -> Bool { matches(rawID: id.rawValue) }

    /// Whether the id spelled `rawID` (as stored, not re-validated) matches.
    public func matches(rawID: String) -> Bool {
        var id = rawID
        return id.withUTF8(matches(utf8:))
    }

    /// Whether the id whose UTF-8 is `text` matches.
    public func matches(utf8 text: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { pattern in Self.glob(pattern[...], text[...]) }
    }

    /// Whether `text` matches `pattern`; `*` stops at `/`, `**` does not.
    static func glob(_ pattern: Slice<UnsafeBufferPointer<UInt8>>, _ text: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var (pattern, text) = (pattern, text)
        let slash = UInt8(ascii: "/"), star = UInt8(ascii: "*")
        // Literal bytes one by one, without recursion.
        while let first = pattern.first, first != star {
            guard let head = text.first, head == first else { return false }
            pattern = pattern.dropFirst()
            text = text.dropFirst()
        }
        guard !pattern.isEmpty else { return text.isEmpty }
        let deep = pattern.dropFirst().first == star
        let rest = pattern.dropFirst(deep ? 2 : 1)
        // Where the rest starts with a literal byte, only positions holding that byte can match.
        let next = rest.first.flatMap { $0 == star ? nil : $0 }
        var index = text.startIndex
        while true {
            if next == nil || (index < text.endIndex && text[index] == next) {
                if glob(rest, text[index...]) { return true }
            }
            guard index < text.endIndex, deep || text[index] != slash else { return false }
            index += 1
        }
    }
}
