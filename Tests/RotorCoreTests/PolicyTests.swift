import Testing
@testable import RotorCore

@Suite struct PasswordPolicyTests {
    @Test(arguments: [
        PasswordPolicy(),
        PasswordPolicy(length: 1, requireEachIncludedType: false),
        PasswordPolicy(length: 4096),
        PasswordPolicy(length: 4, excludeCharacters: ":/@\"'\\"),
        PasswordPolicy(length: 16, excludeNumbers: true, excludePunctuation: true),
        PasswordPolicy(length: 10, excludeUppercase: true, excludeLowercase: true),
        PasswordPolicy(length: 12, includeSpace: true),
    ])
    func generatedPasswordsSatisfyTheirPolicy(policy: PasswordPolicy) throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let password = try #require(try policy.generate(using: &generator).exposedString)
            #expect(policy.violation(in: password) == nil)
        }
    }

    /// Each index is drawn equally often: the bytes past the last whole multiple of the count are
    /// drawn again. Fed every byte value in turn, the 26 letters come out exactly flat (without the
    /// rejection the first 22 would come out 10 times per 256 bytes and the last 4 only 9).
    @Test func indicesAreUniformOverEveryByteValue() throws {
        var random = RandomBytes(CyclingBytes())
        var counts = [Int](repeating: 0, count: 26)
        var drawn = 0
        while drawn < 26 * 9 * 100 {
            counts[random.index(below: 26)] += 1
            drawn += 1
        }
        #expect(Set(counts) == [900])
        var bytes = RandomBytes(CyclingBytes())
        #expect((0..<16).map { _ in bytes.byte() } == Array(0..<16))
        // Through generate(): 2,340 letters from ten turns of every byte value, 90 of each.
        var generator = CyclingBytes()
        let password = try #require(try PasswordPolicy(length: 2_340, excludeNumbers: true, excludePunctuation: true, excludeUppercase: true)
            .generate(using: &generator).exposedString)
        #expect(Set(Dictionary(grouping: password, by: { $0 }).values.map(\.count)) == [90])
    }

    /// Bytes decide the allowed types, not canonical equivalence: KELVIN SIGN (U+212A) is not the letter K.
    @Test func aNonASCIICharacterIsOutsideTheAllowedTypes() {
        let policy = PasswordPolicy(length: 8, excludePunctuation: true)
        #expect(policy.violation(in: "Abcdefé1") == "it contains a character outside the allowed types")
        #expect(policy.violation(in: "\u{212A}bcdefg1") == "it contains a character outside the allowed types")
    }

    @Test(arguments: [
        PasswordPolicy(length: 0),
        PasswordPolicy(length: 4097),
        PasswordPolicy(excludeNumbers: true, excludePunctuation: true, excludeUppercase: true, excludeLowercase: true),
        PasswordPolicy(length: 3),
        PasswordPolicy(length: 8, excludeCharacters: "0123456789", excludePunctuation: true, excludeUppercase: true, excludeLowercase: true),
    ])
    func impossiblePoliciesAreRejected(policy: PasswordPolicy) {
        #expect { try policy.validate() } throws: { ($0 as? RotorError)?.code == .invalidParameter }
    }

    @Test func violationsAreDetectedWithoutEchoingThePassword() {
        let policy = PasswordPolicy(length: 8, excludeCharacters: "x", excludePunctuation: true)
        #expect(policy.violation(in: "short") == "its length is 5, expected 8")
        #expect(policy.violation(in: "Abcdefx1") == "it contains an excluded character")
        #expect(policy.violation(in: "Abcdef!1") == "it contains a character outside the allowed types")
        #expect(policy.violation(in: "abcdefg1") == "it lacks a required character type")
        #expect(policy.violation(in: "Abcdefg1") == nil)
    }
}

@Suite struct RetryPolicyTests {
    @Test(arguments: [
        (1, 0.0, Duration.milliseconds(50)), (1, 1.0, .milliseconds(100)),
        (2, 0.0, .milliseconds(100)), (2, 1.0, .milliseconds(200)),
        (3, 1.0, .milliseconds(400)), (5, 1.0, .milliseconds(1000)), (40, 1.0, .milliseconds(1000)),
        (40, 0.0, .milliseconds(500)),
    ])
    func backoffIsExponentialCappedAndJittered(attempt: Int, unit: Double, expected: Duration) {
        let policy = RetryPolicy(attemptsPerRun: 5, initialBackoff: .milliseconds(100), maximumBackoff: .seconds(1))
        #expect(policy.backoff(afterAttempt: attempt, unit: unit) == expected)
    }

    @Test func nonsenseSettingsAreClamped() {
        let policy = RetryPolicy(attemptsPerRun: 0, initialBackoff: .seconds(5), maximumBackoff: .seconds(1), failedRunsBeforeQuarantine: 0)
        #expect(policy.attemptsPerRun == 1 && policy.maximumBackoff == .seconds(5) && policy.failedRunsBeforeQuarantine == 1)
    }
}

@Suite struct RotationRecordTests {
    @Test(arguments: [
        (nil, [RotationStep.createSecret, .setSecret, .testSecret, .finishSecret]),
        (.createSecret, [.setSecret, .testSecret, .finishSecret]),
        (.testSecret, [.finishSecret]),
        (.finishSecret, []),
    ] as [(RotationStep?, [RotationStep])])
    func remainingStepsFollowTheLastCompletedOne(last: RotationStep?, expected: [RotationStep]) throws {
        let record = RotationRecord(token: "t", secret: try SecretID("/prod/a/b/c"), trigger: "test", startedAt: .now, lastCompletedStep: last)
        #expect(record.remainingSteps == expected)
    }

    @Test func optionsParseKeyValuePairs() throws {
        let options = try RotatorOptions(arguments: ["length=40", "exclude-characters=a=b"])
        #expect(options["length"] == "40" && options["exclude-characters"] == "a=b")
        #expect { try RotatorOptions(arguments: ["novalue"]) } throws: { ($0 as? RotorError)?.code == .invalidOption }
        #expect { try RotatorOptions(arguments: ["a=1", "a=2"]) } throws: { ($0 as? RotorError)?.code == .invalidOption }
    }
}

/// The glob matcher: the backtracking matcher and the automaton agree, a pattern built to backtrack
/// is decided by the automaton, and glob characters are checked.
@Suite struct GlobMatcherTests {
    static let cases: [(String, String, Bool)] = [
        ("/prod/*/api-key/*", "/prod/shop/api-key/k1", true),
        ("/prod/*/api-key/*", "/prod/shop/x/api-key/k1", false),
        ("/prod/**", "/prod/shop/api-key/k1", true),
        ("/**/k1", "/prod/shop/api-key/k1", true),
        ("/*/shop/**", "/staging/shop/api-key/k1", true),
        ("/prod/s*p/*/*", "/prod/shop/api-key/k1", true),
        ("/prod/s*p/*/*", "/prod/sho/api-key/k1", false),
        ("/prod/**/k*", "/prod/shop/api-key/x1", false),
        ("/prod/***", "/prod/a/b/c", true),
        ("/prod/*", "/prod/", true),
    ]

    @Test(arguments: cases.indices)
    func bothMatchersAgree(_ index: Int) throws {
        let (pattern, id, expected) = Self.cases[index]
        let matcher = try SecretMatcher(pattern)
        #expect(matcher.matches(rawID: id) == expected)
        var (bytes, text) = (pattern, id)
        let automaton = bytes.withUTF8 { pattern in text.withUTF8 { SecretMatcher.automaton(pattern, $0) } }
        #expect(automaton == expected)
    }

    @Test func aPatternBuiltToBacktrackIsDecidedByTheAutomaton() throws {
        let matcher = try SecretMatcher("/" + String(repeating: "**a", count: 40) + "z")
        #expect(!matcher.matches(rawID: "/" + String(repeating: "a", count: 400)))
        #expect(try SecretMatcher("/" + String(repeating: "*a", count: 30)).matches(rawID: "/" + String(repeating: "a", count: 30)))
    }

    @Test func patternsWithManyStarsGoToTheAutomaton() throws {
        #expect(SecretMatcher.starRuns(Array("/prod/*/api-key/*".utf8)) == 2)
        #expect(SecretMatcher.starRuns(Array("/**/x/***/y*".utf8)) == 3)
        #expect(try SecretMatcher("/*/*/api-key/*").matches(rawID: "/prod/shop/api-key/k1"))
        #expect(try !SecretMatcher("/*/*/api-key/*").matches(rawID: "/prod/shop/x/api-key/k1"))
    }

    @Test func globCharactersAreChecked() {
        #expect(throws: RotorError.self) { try SecretMatcher("/prod/\n/*") }
        #expect(throws: RotorError.self) { try SecretMatcher("/prod/\u{1b}[31m/*") }
        #expect(throws: RotorError.self) { try SecretMatcher("/" + String(repeating: "*", count: 600)) }
    }
}

/// Every byte value in turn, eight per draw: 0, 1, ..., 255, 0, ...
private struct CyclingBytes: RandomNumberGenerator {
    private var nextByte: UInt8 = 0

    mutating func next() -> UInt64 {
        var word: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) {
            word |= UInt64(nextByte) << UInt64(shift)
            nextByte &+= 1
        }
        return word
    }
}
