import Foundation
import Testing
import RotorCore
import RotorPolicies
import RotorRotators

/// `rotor validate`'s checks: a corpus of broken files, each with the right file:line:column message,
/// the shipped schedules, and fuzzed files that must never crash the loader.
@Suite struct PolicyLoaderTests {
    let loader = PolicyLoader(rotators: .builtIn)

    static let valid = """
        policies:
          - name: github-tokens
            match: [/prod/github-integration/api-token/*]
            rotator: random-password
            options: {length: 40, field: token}
            every: 90d
            window: {start: "02:00", duration: 4h, timezone: UTC}
            jitter: 2h
          - name: claude
            match: /prod/claude-sdk/api-key/anthropic-key
            rotator: manual
            mode: manual
            max_age: 180d
            remind_before: 14d
          - name: weekly
            match: [/prod/reports/api-key/*]
            rotator: random-password
            cron: "0 3 * * MON"
            timezone: Europe/Berlin
        """

    @Test func theValidFileParses() {
        let (policies, errors) = loader.parse(Self.valid, file: "p.yaml")
        #expect(errors.isEmpty, "\(errors)")
        #expect(policies.map(\.name) == ["github-tokens", "claude", "weekly"])
        #expect(policies[0].window?.duration == PolicyDuration("4h"))
        #expect(policies[1].mode == .manual(maxAge: PolicyDuration("180d")!, remindBefore: PolicyDuration("14d")!))
    }

    /// (file content, expected "line:column", expected message fragment)
    static let corpus: [(String, String, String)] = [
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n    colour: blue\n", "6:5", "unknown key 'colour' in a policy: expected one of"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90days\n", "5:12", "'every' is '90days': expected a whole number with a unit"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    cron: \"0 3 * *\"\n", "5:11", "has 4 field(s); expected 5"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    cron: \"0 25 * * *\"\n", "5:11", "cron hour field '25' is invalid"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    cron: \"0 3 * * *\"\n    timezone: Mars/Olympus\n", "6:15", "expected an IANA time zone"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n    window: {start: \"02:00\", duration: 0h}\n", "6:40", "can never open"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n    window: {start: \"26:00\", duration: 1h}\n", "6:21", "is not HH:MM"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    options: {length: 5000}\n    every: 90d\n", "5:14", "length=5000 is invalid"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    options: {lenght: 40}\n    every: 90d\n", "5:14", "unknown option(s) lenght"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: github-app\n    every: 90d\n", "4:14", "unknown rotator kind 'github-app'"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n", "2:5", "missing schedule"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n    cron: \"0 3 * * *\"\n", "5:12", "'every' and 'cron' exclude each other"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: manual\n    mode: manual\n", "2:5", "mode: manual needs 'max_age'"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: manual\n    mode: manual\n    max_age: 10d\n    remind_before: 20d\n", "7:20", "must be shorter than 'max_age'"),
        ("policies:\n  - name: a\n    match: [prod/a/b/*]\n    rotator: random-password\n    every: 90d\n", "3:13", "must start with '/'"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 2m\n", "5:12", "the shortest period is 5m"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 50m\n    window: {start: \"02:00\", duration: 4h}\n", "6:13", "leave the window out"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 50m\n    max_age: 1h\n    jitter: 15m\n", "7:13", "reaches 'max_age' 1h"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n    retry: {attempts_per_run: 0}\n", "6:31", "from 1 to 20"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n    enabled: maybe\n", "6:14", "expected true or false"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/c]\n    rotator: random-password\n    every: 90d\n  - name: b\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 30d\n", "6:5", "is matched by policies 'a' and 'b'"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*]\n    rotator: random-password\n    every: 90d\n  - name: a\n    match: [/prod/c/d/*]\n    rotator: random-password\n    every: 90d\n", "6:5", "policy name 'a' is already used at"),
        ("policies:\n  - name: a\n    match: [/prod/a/b/*\n", "4:1", "invalid YAML"),
        ("rules:\n  - name: a\n", "1:1", "unknown key 'rules'"),
        ("", "1:1", "the file is empty"),
    ]

    @Test(arguments: 0..<corpus.count)
    func brokenFilesGiveFileLineColumnAndWhatWasExpected(index: Int) throws {
        let (text, position, message) = Self.corpus[index]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("policies-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("broken.yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        #expect { try loader.load(path: directory.path) } throws: { error in
            let errors = (error as? PolicyErrors)?.errors.map(\.description) ?? []
            let found = errors.contains { $0.hasPrefix("\(file):\(position): ") && $0.contains(message) }
            if !found { Issue.record("case \(index): expected \(position) '\(message)', got \(errors)") }
            return found
        }
    }

    /// The GitHub App token policy the shipped file and the runbook show (commented out): every 50
    /// minutes, one hour's maximum age, no window, a short backoff.
    @Test func theAppTokenPolicyOfTheRunbookIsValid() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("policies-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try """
            policies:
              - name: github-app-tokens
                match: [/prod/github-integration/app-token/*]
                rotator: github-app-token
                options: {private-key-secret: /prod/github-integration/app-key/private-key, revoke-previous: "true"}
                every: 50m
                max_age: 1h
                jitter: 2m
                retry: {attempts_per_run: 3, initial_backoff: 1m, max_backoff: 5m, failed_runs_before_quarantine: 10}
            """.write(to: directory.appendingPathComponent("app.yaml"), atomically: true, encoding: .utf8)
        let policy = try #require(try PolicyLoader(rotators: .shipped).load(path: directory.path).policies.first)
        #expect(policy.schedule == .every(PolicyDuration("50m")!) && policy.window == nil && policy.effectiveMaxAge == PolicyDuration("1h"))
    }

    @Test func theShippedSchedulesAreValid() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schedules")
        let set = try PolicyLoader(rotators: .shipped).load(path: directory.path)
        #expect(Set(set.policies.map(\.name)).isSuperset(of: ["github-tokens", "encryption-keys", "database-credentials", "claude-api-key"]))
        // Every credential rotates at its real system, or is assisted: no random string stands in for one.
        #expect(set.policies.map(\.rotator).sorted().map(\.rawValue) == [
            "cognito-app-client", "encryption-key", "github-pat", "manual", "postgres-alternating-users",
        ])
        if case .manual = set.policy(for: try SecretID("/prod/github-integration/api-token/personal-access-token"))?.mode {} else {
            Issue.record("GitHub personal access tokens are made by a person: assisted, with reminders")
        }
        #expect(set.policy(for: try SecretID("/staging/template-management/encryption-key/template-key"))?.schedule == .every(PolicyDuration("365d")!))
        #expect(set.policy(for: try SecretID("/prod/orders-service/db-credentials/app-user"))?.schedule == .every(PolicyDuration("30d")!))
        if case .manual = set.policy(for: try SecretID("/prod/claude-sdk/api-key/anthropic-key"))?.mode {} else { Issue.record("the Claude key must be manual") }
    }

    /// Mutated copies of a valid file (bytes deleted, duplicated, replaced, lines swapped): the
    /// loader returns policies or errors, and never crashes.
    @Test func fuzzedPolicyFilesNeverCrashTheLoader() async {
        var generator = SeededGenerator(seed: 20261129)
        let base = Array(Self.valid.utf8)
        let alphabet = Array(" \n:-[]{}\"'*#/0123456789abcdhmwxyz!&|>%@`\t".utf8)
        for round in 0..<3000 {
            // CPU-bound: give the other tests' tasks a turn on the shared pool.
            if round % 20 == 0 { await Task.yield() }
            var bytes = base
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                guard !bytes.isEmpty else { break }
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: bytes.remove(at: index)
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: index)
                case 2: bytes[index] = alphabet.randomElement(using: &generator)!
                default: bytes.insert(contentsOf: bytes[index..<min(bytes.count, index + 12)], at: index)
                }
            }
            let (policies, errors) = loader.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
            #expect(!policies.isEmpty || !errors.isEmpty || bytes.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") } || true)
        }
    }
}

/// A small deterministic generator (splitmix64), so fuzz runs repeat.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
