import Foundation
import Testing
import RotorCore

/// The contract every ``SecretStore`` must pass: Secrets Manager's semantics for create,
/// describe, get, put, update-stage, random password and list. A new store adds a ``Backend``.
@Suite struct SecretStoreContractTests {
    static let id = try! SecretID("/prod/github-integration/api-token/personal-access-token")
    static let tokenA: VersionID = "aaaaaaaa-0000-4000-8000-000000000001"
    static let tokenB: VersionID = "bbbbbbbb-0000-4000-8000-000000000002"
    static let tokenC: VersionID = "cccccccc-0000-4000-8000-000000000003"

    func makeStore(_ backend: Backend) throws -> (any SecretStore, ManualClock) {
        let clock = ManualClock()
        return (try backend.make(clock: clock).store, clock)
    }

    func create(_ store: any SecretStore, value: String = "v1") async throws {
        _ = try await store.createSecret(CreateSecretInput(
            id: Self.id, description: "GitHub token", tags: ["team": "platform"], initialValue: SecretValue(string: value), initialVersionID: Self.tokenA))
    }

    func put(_ store: any SecretStore, _ token: VersionID, _ value: String, _ stages: [StagingLabel]?) async throws {
        try await store.putSecretValue(PutSecretValueInput(id: Self.id, token: token, value: SecretValue(string: value), stages: stages))
    }

    @Test(arguments: Backend.allCases)
    func createDescribeAndGet(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        let description = try await store.describeSecret(Self.id)
        #expect(description.versionIDsToStages == [Self.tokenA: [.current]])
        #expect(description.description == "GitHub token" && description.tags == ["team": "platform"])
        #expect(try await store.getSecretValue(Self.id, VersionSelector()).value == SecretValue(string: "v1"))
        #expect(try await store.getSecretValue(Self.id, VersionSelector(versionID: Self.tokenA)).versionID == Self.tokenA)
        await #expect { try await create(store) } throws: { ($0 as? RotorError)?.code == .secretExists }
    }

    @Test(arguments: Backend.allCases)
    func missingSecretsAndVersionsAreNotFound(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        await #expect { try await store.describeSecret(Self.id) } throws: { ($0 as? RotorError)?.code == .secretNotFound }
        try await create(store)
        await #expect { try await store.getSecretValue(Self.id, .previous) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
        await #expect { try await store.getSecretValue(Self.id, .pending(Self.tokenA)) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
        await #expect { try await store.getSecretValue(Self.id, VersionSelector(versionID: Self.tokenB)) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
    }

    @Test(arguments: Backend.allCases)
    func putWithoutStagesMovesCurrentAndPrevious(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        try await put(store, Self.tokenB, "v2", nil)
        try await put(store, Self.tokenC, "v3", nil)
        let stages = try await store.describeSecret(Self.id).versionIDsToStages
        #expect(stages == [Self.tokenA: [], Self.tokenB: [.previous], Self.tokenC: [.current]])
    }

    @Test(arguments: Backend.allCases)
    func putWithTheSameTokenIsANoOpForTheSameValueAndAnErrorOtherwise(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        try await put(store, Self.tokenB, "v2", [.pending])
        let outcome = try await store.putSecretValue(PutSecretValueInput(id: Self.id, token: Self.tokenB, value: SecretValue(string: "v2"), stages: [.pending]))
        #expect(outcome == .unchanged)
        await #expect { try await put(store, Self.tokenB, "different", [.pending]) } throws: { ($0 as? RotorError)?.code == .tokenInUse }
        #expect(try await store.getSecretValue(Self.id, .pending(Self.tokenB)).value == SecretValue(string: "v2"))
    }

    @Test(arguments: Backend.allCases)
    func aLabelSitsOnOneVersionAndPutStealsIt(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        try await put(store, Self.tokenB, "v2", [.pending])
        try await put(store, Self.tokenC, "v3", [.pending])
        let stages = try await store.describeSecret(Self.id).versionIDsToStages
        #expect(stages[Self.tokenB] == [] && stages[Self.tokenC] == [.pending] && stages[Self.tokenA] == [.current])
    }

    @Test(arguments: Backend.allCases)
    func movingCurrentMovesPreviousToTheVersionItLeft(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        try await put(store, Self.tokenB, "v2", [.pending])
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: Self.id, stage: .current, moveTo: Self.tokenB, removeFrom: Self.tokenA))
        var stages = try await store.describeSecret(Self.id).versionIDsToStages
        #expect(stages[Self.tokenA] == [.previous] && stages[Self.tokenB] == [.current, .pending])
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: Self.id, stage: .pending, removeFrom: Self.tokenB))
        stages = try await store.describeSecret(Self.id).versionIDsToStages
        #expect(stages[Self.tokenB] == [.current])
        #expect(try await store.describeSecret(Self.id).lastRotatedAt != nil)
    }

    @Test(arguments: Backend.allCases)
    func updateStageRefusesWhatSecretsManagerRefuses(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        try await put(store, Self.tokenB, "v2", [.pending])
        let cases: [(UpdateVersionStageInput, RotorError.Code)] = [
            // The label sits on another version and RemoveFromVersionId is missing.
            (UpdateVersionStageInput(id: Self.id, stage: .current, moveTo: Self.tokenB), .invalidParameter),
            // RemoveFromVersionId does not carry the label.
            (UpdateVersionStageInput(id: Self.id, stage: .current, moveTo: Self.tokenB, removeFrom: Self.tokenB), .invalidParameter),
            // AWSCURRENT cannot simply be removed.
            (UpdateVersionStageInput(id: Self.id, stage: .current, removeFrom: Self.tokenA), .invalidParameter),
            // Neither move nor remove.
            (UpdateVersionStageInput(id: Self.id, stage: .pending), .invalidParameter),
            // Unknown version.
            (UpdateVersionStageInput(id: Self.id, stage: .pending, moveTo: Self.tokenC, removeFrom: Self.tokenB), .versionNotFound),
        ]
        for (input, code) in cases {
            await #expect { try await store.updateSecretVersionStage(input) } throws: { ($0 as? RotorError)?.code == code }
        }
        #expect(try await store.describeSecret(Self.id).versionIDsToStages == [Self.tokenA: [.current], Self.tokenB: [.pending]])
    }

    @Test(arguments: Backend.allCases)
    func getWithVersionAndStageRequiresBoth(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        try await create(store)
        try await put(store, Self.tokenB, "v2", [.pending])
        #expect(try await store.getSecretValue(Self.id, .pending(Self.tokenB)).value == SecretValue(string: "v2"))
        await #expect { try await store.getSecretValue(Self.id, .pending(Self.tokenA)) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
    }

    @Test(arguments: Backend.allCases)
    func binaryValuesRoundTrip(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        let bytes: [UInt8] = (0..<32).map { UInt8($0 * 7 % 256) }
        _ = try await store.createSecret(CreateSecretInput(id: Self.id, initialValue: SecretValue(bytes: bytes)))
        let value = try await store.getSecretValue(Self.id, .current).value
        #expect(value.kind == .binary && value.exposedBytes == bytes)
    }

    @Test(arguments: Backend.allCases)
    func deprecatedVersionsArePrunedBeyondTheLimitButNotWhenYoung(backend: Backend) async throws {
        let (store, clock) = try makeStore(backend)
        try await create(store)
        for index in 0..<(VersionLedger.deprecatedVersionLimit + 3) {
            try await put(store, VersionID("version-\(index)-0000-4000-8000-000000000000"), "v\(index)", nil)
        }
        // All deprecated versions are younger than 24 h: none is pruned yet.
        #expect(try await store.describeSecret(Self.id).versions.count == VersionLedger.deprecatedVersionLimit + 4)
        clock.advance(by: 25 * 3600)
        try await put(store, VersionID("version-last-0000-4000-8000-000000000000"), "last", nil)
        let versions = try await store.describeSecret(Self.id).versions
        #expect(versions.filter(\.isDeprecated).count == VersionLedger.deprecatedVersionLimit)
        #expect(versions.first { $0.stages.contains(.current) }?.id == VersionID("version-last-0000-4000-8000-000000000000"))
    }

    @Test(arguments: Backend.allCases)
    func randomPasswordsFollowTheOptions(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        let policy = PasswordPolicy(length: 24, excludeCharacters: ":/@\"'\\", excludePunctuation: false)
        for _ in 0..<20 {
            let password = try #require(try await store.getRandomPassword(policy).exposedString)
            #expect(policy.violation(in: password) == nil)
        }
        await #expect { try await store.getRandomPassword(PasswordPolicy(length: 0)) } throws: { ($0 as? RotorError)?.code == .invalidParameter }
    }

    @Test(arguments: Backend.allCases)
    func listIsSortedAndScopedToOneEnvironment(backend: Backend) async throws {
        let (store, _) = try makeStore(backend)
        for raw in ["/staging/a/api-key/x", "/prod/b/api-key/y", "/prod/a/api-key/z"] {
            _ = try await store.createSecret(CreateSecretInput(id: try SecretID(raw), initialValue: SecretValue(string: "v")))
        }
        #expect(try await store.listSecrets(in: .all).map(\.id.rawValue) == ["/prod/a/api-key/z", "/prod/b/api-key/y", "/staging/a/api-key/x"])
        #expect(try await store.listSecrets(in: .only(try Environment("staging"))).map(\.id.rawValue) == ["/staging/a/api-key/x"])
    }
}
