import Foundation
import Testing
import RotorCore

/// Secrets Manager's label rules, on the pure ledger.
@Suite struct VersionLedgerTests {
    let secret = try! SecretID("/prod/a/api-key/b")
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func ledger(_ puts: [(VersionID, [StagingLabel]?)]) throws -> VersionLedger {
        var ledger = VersionLedger()
        for (token, stages) in puts { _ = try ledger.put(token, stages: stages, at: now, sameValue: false, secret: secret) }
        return ledger
    }

    @Test func firstVersionAlwaysGetsCurrent() throws {
        let ledger = try ledger([("a", [.pending])])
        #expect(ledger.versionIDsToStages["a"] == [.current, .pending])
    }

    @Test func putWithoutStagesMovesCurrentAndPrevious() throws {
        let ledger = try ledger([("a", nil), ("b", nil), ("c", nil)])
        #expect(ledger.versionIDsToStages == ["a": [], "b": [.previous], "c": [.current]])
    }

    @Test func sameTokenSameValueIsANoOpDifferentValueIsAnError() throws {
        var ledger = try ledger([("a", nil)])
        #expect(try ledger.put("a", stages: nil, at: now, sameValue: true, secret: secret) == .unchanged)
        #expect { try ledger.put("a", stages: nil, at: now, sameValue: false, secret: secret) } throws: { ($0 as? RotorError)?.code == .tokenInUse }
    }

    @Test func customLabelsMoveLikeReservedOnes() throws {
        var ledger = try ledger([("a", nil), ("b", ["blue"]), ("c", ["blue"])])
        #expect(ledger.holder(of: "blue") == "c")
        try ledger.updateStage("blue", moveTo: "a", removeFrom: "c", secret: secret)
        #expect(ledger.versionIDsToStages == ["a": [.current, "blue"], "b": [], "c": []])
    }

    @Test func movingCurrentSetsPreviousOnTheVersionItLeft() throws {
        var ledger = try ledger([("a", nil), ("b", nil), ("c", [.pending])])
        try ledger.updateStage(.current, moveTo: "c", removeFrom: "b", secret: secret)
        #expect(ledger.versionIDsToStages == ["a": [], "b": [.previous], "c": [.current, .pending]])
        // Moving it back (a rollback) swaps the two.
        try ledger.updateStage(.current, moveTo: "b", removeFrom: "c", secret: secret)
        #expect(ledger.versionIDsToStages == ["a": [], "b": [.current], "c": [.pending, .previous]])
    }

    @Test func movingALabelOntoItsHolderIsANoOp() throws {
        var ledger = try ledger([("a", nil)])
        try ledger.updateStage(.current, moveTo: "a", removeFrom: "a", secret: secret)
        #expect(ledger.versionIDsToStages == ["a": [.current]])
    }

    @Test func labelLimitIsEnforced() throws {
        var ledger = try ledger([("a", nil)])
        for index in 1..<VersionLedger.labelLimit { try ledger.updateStage(StagingLabel(stringLiteral: "l\(index)"), moveTo: "a", removeFrom: nil, secret: secret) }
        #expect { try ledger.updateStage("one-too-many", moveTo: "a", removeFrom: nil, secret: secret) } throws: { ($0 as? RotorError)?.code == .invalidRequest }
    }

    @Test(arguments: [
        (0, [] as [Int]), // no excess deprecated versions
        (3, [] as [Int]), // excess, but younger than 24 h
    ])
    func youngDeprecatedVersionsAreKept(extra: Int, _ expected: [Int]) throws {
        var ledger = try ledger((0..<(VersionLedger.deprecatedVersionLimit + extra + 1)).map { (VersionID("v\($0)"), nil) })
        #expect(ledger.prune(at: now.addingTimeInterval(3600)).isEmpty)
    }

    @Test func oldestDeprecatedVersionsArePrunedFirst() throws {
        var ledger = try ledger((0..<(VersionLedger.deprecatedVersionLimit + 4)).map { (VersionID("v\($0)"), nil) })
        // v0..v101 deprecated (102), v102 previous, v103 current.
        let pruned = ledger.prune(at: now.addingTimeInterval(VersionLedger.minimumDeprecatedAge))
        #expect(pruned == ["v0", "v1"])
        #expect(ledger.versions.filter(\.isDeprecated).count == VersionLedger.deprecatedVersionLimit)
    }

    @Test func resolveFollowsGetSecretValueRules() throws {
        let ledger = try ledger([("a", nil), ("b", [.pending])])
        #expect(try ledger.resolve(VersionSelector(), secret: secret) == "a")
        #expect(try ledger.resolve(.pending("b"), secret: secret) == "b")
        #expect(try ledger.resolve(VersionSelector(versionID: "b"), secret: secret) == "b")
        #expect { try ledger.resolve(.pending("a"), secret: secret) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
        #expect { try ledger.resolve(.previous, secret: secret) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
    }
}
