/// GetRandomPassword's parameters, with the same defaults and limits.
public struct PasswordPolicy: Sendable, Hashable {
    public var length: Int
    public var excludeCharacters: String
    public var excludeNumbers: Bool
    public var excludePunctuation: Bool
    public var excludeUppercase: Bool
    public var excludeLowercase: Bool
    public var includeSpace: Bool
    /// Require at least one character of each included type (Secrets Manager's default: true).
    public var requireEachIncludedType: Bool

    public static let punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    public static let lengthRange = 1...4096

    public init(
        length: Int = 32, excludeCharacters: String = "", excludeNumbers: Bool = false,
        excludePunctuation: Bool = false, excludeUppercase: Bool = false, excludeLowercase: Bool = false,
        includeSpace: Bool = false, requireEachIncludedType: Bool = true
    ) {
        self.length = length
        self.excludeCharacters = excludeCharacters
        self.excludeNumbers = excludeNumbers
        self.excludePunctuation = excludePunctuation
        self.excludeUppercase = excludeUppercase
        self.excludeLowercase = excludeLowercase
        self.includeSpace = includeSpace
        self.requireEachIncludedType = requireEachIncludedType
    }

    /// The character classes left after the exclusions, each already filtered by `excludeCharacters`.
    public var characterClasses: [[Character]] {
        let excluded = Set(excludeCharacters)
        var classes: [String] = []
        if !excludeLowercase { classes.append("abcdefghijklmnopqrstuvwxyz") }
        if !excludeUppercase { classes.append("ABCDEFGHIJKLMNOPQRSTUVWXYZ") }
        if !excludeNumbers { classes.append("0123456789") }
        if !excludePunctuation { classes.append(Self.punctuation) }
        if includeSpace { classes.append(" ") }
        return classes.map { $0.filter { !excluded.contains($0) } }.filter { !$0.isEmpty }
    }

    /// Checks the parameters as GetRandomPassword does.
    public func validate() throws(RotorError) {
        guard Self.lengthRange.contains(length) else {
            throw RotorError(.invalidParameter, "password length \(length) is outside 1-4096")
        }
        guard excludeCharacters.count <= 4096 else {
            throw RotorError(.invalidParameter, "exclude-characters is longer than 4096 characters")
        }
        let classes = characterClasses
        guard !classes.isEmpty else {
            throw RotorError(.invalidParameter, "the password options exclude every character", remedy: "include at least one character type")
        }
        if requireEachIncludedType, classes.count > length {
            throw RotorError(
                .invalidParameter, "length \(length) is too short to include all \(classes.count) required character types",
                remedy: "raise the length or set require-each-included-type=false")
        }
    }

    /// A password from the system's cryptographic random number generator: the same rules as
    /// GetRandomPassword, without the API call. The one generator every rotator uses.
    public func generate() throws(RotorError) -> SecretValue {
        var generator = SystemRandomNumberGenerator()
        return try generate(using: &generator)
    }

    /// Generates a password with `generator` (use a cryptographic one: `SystemRandomNumberGenerator`).
    public func generate<G: RandomNumberGenerator>(using generator: inout G) throws(RotorError) -> SecretValue {
        try validate()
        let classes = asciiClasses
        let alphabet = classes.flatMap { $0 }
        var random = RandomBytes(generator)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(length)
        if requireEachIncludedType {
            for characterClass in classes { bytes.append(characterClass[random.index(below: characterClass.count)]) }
        }
        while bytes.count < length { bytes.append(alphabet[random.index(below: alphabet.count)]) }
        for i in stride(from: bytes.count - 1, to: 0, by: -1) { bytes.swapAt(i, random.index(below: i + 1)) }
        generator = random.generator
        return SecretValue(string: String(decoding: bytes, as: UTF8.self))
    }

    /// Why `password` does not satisfy this policy, or `nil` when it does. Never echoes the password.
    public func violation(in password: String) -> String? {
        guard password.count == length else { return "its length is \(password.count), expected \(length)" }
        let excluded = Set(excludeCharacters)
        if !excluded.isEmpty, password.contains(where: excluded.contains) { return "it contains an excluded character" }
        let classes = asciiClasses
        var classOf = [Int8](repeating: -1, count: 128)
        for (index, characterClass) in classes.enumerated() { for byte in characterClass { classOf[Int(byte)] = Int8(index) } }
        var seen = [Bool](repeating: false, count: classes.count)
        // Every allowed character is ASCII: any other byte is outside the allowed types.
        for byte in password.utf8 {
            guard byte < 128, classOf[Int(byte)] >= 0 else { return "it contains a character outside the allowed types" }
            seen[Int(classOf[Int(byte)])] = true
        }
        if requireEachIncludedType, seen.contains(false) { return "it lacks a required character type" }
        return nil
    }

    /// ``characterClasses`` as ASCII bytes.
    var asciiClasses: [[UInt8]] { characterClasses.map { $0.map { $0.asciiValue! } } }
}

/// Unbiased small random indices from a generator, from eight random bytes per 64-bit draw (a draw
/// from the system generator is a system call).
struct RandomBytes<G: RandomNumberGenerator> {
    var generator: G
    private var buffer: UInt64 = 0
    private var left = 0

    init(_ generator: G) { self.generator = generator }

    mutating func byte() -> UInt8 {
        if left == 0 {
            buffer = generator.next()
            left = 8
        }
        defer { buffer >>= 8; left -= 1 }
        return UInt8(truncatingIfNeeded: buffer)
    }

    /// A uniform index in `0..<count`, by rejection: bytes past the last whole multiple of `count` are drawn again.
    mutating func index(below count: Int) -> Int {
        guard count <= 256 else { return Int.random(in: 0..<count, using: &generator) }
        let limit = 256 - 256 % count
        while true {
            let value = Int(byte())
            if value < limit { return value % count }
        }
    }
}
