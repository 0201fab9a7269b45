/// Which secrets a policy covers: an exact id, or a glob on ids where `*` matches within one
/// segment and `**` across segments (e.g. `/prod/github-integration/api-token/*`, `/*/*/encryption-key/*`).
public struct SecretMatcher: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    /// The pattern's UTF-8, kept so matching a large fleet allocates nothing per id.
    private let bytes: [UInt8]
    /// More than two runs of stars: the backtracking matcher's worst case grows as the id's length
    /// to that power, so such patterns always go to the automaton.
    private let manyStars: Bool

    /// - Parameter pattern: an id, a glob, or a Secrets Manager ARN (matched by its name).
    public init(_ pattern: String) throws(RotorError) {
        if pattern.hasPrefix("arn:") {
            self.pattern = try SecretID(nameOrARN: pattern).rawValue
            self.bytes = Array(self.pattern.utf8)
            manyStars = false
            return
        }
        guard pattern.hasPrefix("/") else {
            throw RotorError(.invalidParameter, "match pattern '\(Self.shown(pattern))' must start with '/' like a secret id")
        }
        if pattern.contains("*") {
            guard pattern.utf8.count <= 512, pattern.unicodeScalars.allSatisfy(Self.allowed.contains) else {
                throw RotorError(.invalidParameter, "match pattern '\(Self.shown(pattern))' may hold only letters, digits, - _ . + = @, '/' and '*' (at most 512 bytes)")
            }
        } else {
            _ = try SecretID(pattern)
        }
        self.pattern = pattern
        self.bytes = Array(pattern.utf8)
        manyStars = Self.starRuns(bytes) > 2
    }

    static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+=@/*".unicodeScalars)

    static func shown(_ pattern: String) -> String { pattern.printable(limit: 80) }

    /// How many runs of consecutive stars the pattern holds.
    static func starRuns(_ bytes: [UInt8]) -> Int {
        let star = UInt8(ascii: "*")
        return bytes.indices.count { bytes[$0] == star && ($0 == 0 || bytes[$0 - 1] != star) }
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

    /// Whether the id whose UTF-8 is `text` matches: the backtracking matcher, fast on the patterns
    /// people write; a pattern with many stars, or one that backtracks too much against a long id,
    /// is decided by ``automaton(_:_:)``, whose cost is bounded by the pattern's length times the id's.
    public func matches(utf8 text: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.withUnsafeBufferPointer { pattern in
            if manyStars { return Self.automaton(pattern, text) }
            var budget = Self.backtrackingBudget
            return Self.glob(pattern[...], text[...], budget: &budget) ?? Self.automaton(pattern, text)
        }
    }

    static let backtrackingBudget = 4096

    /// Whether `text` matches `pattern`; `*` stops at `/`, `**` does not. `nil` when `budget` calls ran out.
    static func glob(_ pattern: Slice<UnsafeBufferPointer<UInt8>>, _ text: Slice<UnsafeBufferPointer<UInt8>>, budget: inout Int) -> Bool? {
        budget -= 1
        guard budget > 0 else { return nil }
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
                switch glob(rest, text[index...], budget: &budget) {
                case true?: return true
                case nil: return nil
                case false?: break
                }
            }
            guard index < text.endIndex, deep || text[index] != slash else { return false }
            index += 1
        }
    }

    /// The same match as a set of pattern positions advanced byte by byte (a Thompson automaton).
    static func automaton(_ pattern: UnsafeBufferPointer<UInt8>, _ text: UnsafeBufferPointer<UInt8>) -> Bool {
        let (slash, star) = (UInt8(ascii: "/"), UInt8(ascii: "*"))
        // Tokens: a literal byte, `*` (any bytes but '/'), or `**` (any bytes).
        enum Token { case byte(UInt8), star, deep }
        var tokens: [Token] = []
        var index = 0
        while index < pattern.count {
            if pattern[index] == star {
                let deep = index + 1 < pattern.count && pattern[index + 1] == star
                tokens.append(deep ? .deep : .star)
                index += deep ? 2 : 1
            } else {
                tokens.append(.byte(pattern[index]))
                index += 1
            }
        }
        func close(_ states: inout [Bool]) {
            for position in tokens.indices where states[position] {
                if case .byte = tokens[position] { continue }
                states[position + 1] = true
            }
        }
        var states = [Bool](repeating: false, count: tokens.count + 1)
        states[0] = true
        close(&states)
        for byte in text {
            var next = [Bool](repeating: false, count: tokens.count + 1)
            for position in tokens.indices where states[position] {
                switch tokens[position] {
                case .byte(let literal): if literal == byte { next[position + 1] = true }
                case .star: if byte != slash { next[position] = true }
                case .deep: next[position] = true
                }
            }
            close(&next)
            states = next
        }
        return states[tokens.count]
    }
}
