import Foundation
import Testing
import RotorCore
import RotorTestSupport

/// The contract every ``SecretStore`` must pass: Secrets Manager's semantics for create,
/// describe, get, put, update-stage, random password and list. A new store adds a ``Backend``.
@Suite struct SecretStoreContractTests {
    static let tokenA: VersionID = "aaaaaaaa-0000-4000-8000-000000000001"
    static let tokenB: VersionID = "bbbbbbbb-0000-4000-8000-000000000002"
    static let tokenC: VersionID = "cccccccc-0000-4000-8000-000000000003"

    /// One store of a backend and the secret id the test uses in it.
    struct Fixture {
        let store: any SecretStore
        let clock = TestClock()
        let instance: BackendInstance
        let id: SecretID

        init(_ backend: Backend) async throws {
            instance = try await backend.make(clock: clock)
            store = instance.store
            id = instance.id("github-integration/api-token/personal-access-token")
        }

        func create(value: String = "v1") async throws {
            _ = try await store.createSecret(CreateSecretInput(
                id: id, description: "GitHub token", tags: ["team": "platform"], initialValue: SecretValue(string: value), initialVersionID: SecretStoreContractTests.tokenA))
        }

        func put(_ token: VersionID, _ value: String, _ stages: [StagingLabel]?) async throws {
            try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: SecretValue(string: value), stages: stages))
        }

        /// Labelled versions only: DescribeSecret does not list deprecated versions in AWS.
        func labels() async throws -> [VersionID: [StagingLabel]] {
            try await store.describeSecret(id).versionIDsToStages.filter { !$0.value.isEmpty }
        }
    }

    @Test(arguments: Backend.secretStores)
    func createDescribeAndGet(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        let description = try await store.describeSecret(f.id)
        #expect(description.versionIDsToStages == [Self.tokenA: [.current]])
        #expect(description.description == "GitHub token" && description.tags == ["team": "platform"])
        #expect(try await store.getSecretValue(f.id, VersionSelector()).value == SecretValue(string: "v1"))
        #expect(try await store.getSecretValue(f.id, VersionSelector(versionID: Self.tokenA)).versionID == Self.tokenA)
        // The same token and value again is a no-op; another token for a taken name is an error.
        try await f.create()
        await #expect {
            try await store.createSecret(CreateSecretInput(id: f.id, initialValue: SecretValue(string: "v1"), initialVersionID: Self.tokenB))
        } throws: { ($0 as? RotorError)?.code == .secretExists }
        #expect(try await f.labels() == [Self.tokenA: [.current]])
    }

    @Test(arguments: Backend.secretStores)
    func missingSecretsAndVersionsAreNotFound(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        await #expect { try await store.describeSecret(f.id) } throws: { ($0 as? RotorError)?.code == .secretNotFound }
        try await f.create()
        await #expect { try await store.getSecretValue(f.id, .previous) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
        await #expect { try await store.getSecretValue(f.id, .pending(Self.tokenA)) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
        await #expect { try await store.getSecretValue(f.id, VersionSelector(versionID: Self.tokenB)) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
    }

    @Test(arguments: Backend.secretStores)
    func putWithoutStagesMovesCurrentAndPrevious(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        try await f.put(Self.tokenB, "v2", nil)
        try await f.put(Self.tokenC, "v3", nil)
        #expect(try await f.labels() == [Self.tokenB: [.previous], Self.tokenC: [.current]])
        _ = store
    }

    @Test(arguments: Backend.secretStores)
    func putWithTheSameTokenIsANoOpForTheSameValueAndAnErrorOtherwise(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        try await f.put(Self.tokenB, "v2", [.pending])
        let outcome = try await store.putSecretValue(PutSecretValueInput(id: f.id, token: Self.tokenB, value: SecretValue(string: "v2"), stages: [.pending]))
        #expect(outcome == .unchanged)
        await #expect { try await f.put(Self.tokenB, "different", [.pending]) } throws: { ($0 as? RotorError)?.code == .tokenInUse }
        #expect(try await store.getSecretValue(f.id, .pending(Self.tokenB)).value == SecretValue(string: "v2"))
    }

    @Test(arguments: Backend.secretStores)
    func aLabelSitsOnOneVersionAndPutStealsIt(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        try await f.put(Self.tokenB, "v2", [.pending])
        try await f.put(Self.tokenC, "v3", [.pending])
        #expect(try await f.labels() == [Self.tokenA: [.current], Self.tokenC: [.pending]])
        _ = store
    }

    @Test(arguments: Backend.secretStores)
    func movingCurrentMovesPreviousToTheVersionItLeft(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        try await f.put(Self.tokenB, "v2", [.pending])
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: f.id, stage: .current, moveTo: Self.tokenB, removeFrom: Self.tokenA))
        var stages = try await store.describeSecret(f.id).versionIDsToStages
        #expect(stages[Self.tokenA] == [.previous] && stages[Self.tokenB] == [.current, .pending])
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: f.id, stage: .pending, removeFrom: Self.tokenB))
        stages = try await store.describeSecret(f.id).versionIDsToStages
        #expect(stages[Self.tokenB] == [.current])
    }

    @Test(arguments: Backend.secretStores)
    func updateStageRefusesWhatSecretsManagerRefuses(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        try await f.put(Self.tokenB, "v2", [.pending])
        let cases: [(UpdateVersionStageInput, RotorError.Code)] = [
            // The label sits on another version and RemoveFromVersionId is missing.
            (UpdateVersionStageInput(id: f.id, stage: .current, moveTo: Self.tokenB), .invalidParameter),
            // RemoveFromVersionId does not carry the label.
            (UpdateVersionStageInput(id: f.id, stage: .current, moveTo: Self.tokenB, removeFrom: Self.tokenB), .invalidParameter),
            // AWSCURRENT cannot simply be removed.
            (UpdateVersionStageInput(id: f.id, stage: .current, removeFrom: Self.tokenA), .invalidParameter),
            // Neither move nor remove.
            (UpdateVersionStageInput(id: f.id, stage: .pending), .invalidParameter),
            // Unknown version.
            (UpdateVersionStageInput(id: f.id, stage: .pending, moveTo: Self.tokenC, removeFrom: Self.tokenB), .versionNotFound),
        ]
        for (input, code) in cases {
            await #expect { try await store.updateSecretVersionStage(input) } throws: { ($0 as? RotorError)?.code == code }
        }
        #expect(try await store.describeSecret(f.id).versionIDsToStages == [Self.tokenA: [.current], Self.tokenB: [.pending]])
    }

    @Test(arguments: Backend.secretStores)
    func getWithVersionAndStageRequiresBoth(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        try await f.create()
        try await f.put(Self.tokenB, "v2", [.pending])
        #expect(try await store.getSecretValue(f.id, .pending(Self.tokenB)).value == SecretValue(string: "v2"))
        await #expect { try await store.getSecretValue(f.id, .pending(Self.tokenA)) } throws: { ($0 as? RotorError)?.code == .versionNotFound }
    }

    @Test(arguments: Backend.secretStores)
    func binaryValuesRoundTrip(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        let bytes: [UInt8] = (0..<32).map { UInt8($0 * 7 % 256) }
        _ = try await store.createSecret(CreateSecretInput(id: f.id, initialValue: SecretValue(bytes: bytes)))
        let value = try await store.getSecretValue(f.id, .current).value
        #expect(value.kind == .binary && value.exposedBytes == bytes)
    }

    @Test(arguments: Backend.secretStores.filter(\.ownsVersionRetention))
    func deprecatedVersionsArePrunedBeyondTheLimitButNotWhenYoung(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let (store, clock) = (f.store, f.clock)
        try await f.create()
        for index in 0..<(VersionLedger.deprecatedVersionLimit + 3) {
            try await f.put(VersionID("version-\(index)-0000-4000-8000-000000000000"), "v\(index)", nil)
        }
        // All deprecated versions are younger than 24 h: none is pruned yet.
        #expect(try await store.describeSecret(f.id).versions.count == VersionLedger.deprecatedVersionLimit + 4)
        clock.advance(by: 25 * 3600)
        try await f.put(VersionID("version-last-0000-4000-8000-000000000000"), "last", nil)
        let versions = try await store.describeSecret(f.id).versions
        #expect(versions.filter(\.isDeprecated).count == VersionLedger.deprecatedVersionLimit)
        #expect(versions.first { $0.stages.contains(.current) }?.id == VersionID("version-last-0000-4000-8000-000000000000"))
    }

    @Test(arguments: Backend.secretStores)
    func randomPasswordsFollowTheOptions(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        let policy = PasswordPolicy(length: 24, excludeCharacters: ":/@\"'\\", excludePunctuation: false)
        for _ in 0..<20 {
            let password = try #require(try await store.getRandomPassword(policy).exposedString)
            #expect(policy.violation(in: password) == nil)
        }
        await #expect { try await store.getRandomPassword(PasswordPolicy(length: 0)) } throws: { ($0 as? RotorError)?.code == .invalidParameter }
    }

    @Test(arguments: Backend.secretStores)
    func listIsSortedAndScopedToOneEnvironment(backend: Backend) async throws {
        let f = try await Fixture(backend)
        let store = f.store
        let (envA, envB) = (f.instance.environmentName, f.instance.environmentName + "-b")
        let ids = ["/\(envB)/a/api-key/x", "/\(envA)/b/api-key/y", "/\(envA)/a/api-key/z"]
        for raw in ids {
            _ = try await store.createSecret(CreateSecretInput(id: try SecretID(raw), initialValue: SecretValue(string: "v")))
        }
        let all = try await store.listSecrets(in: .all).map(\.id.rawValue).filter { $0.hasPrefix("/\(envA)/") || $0.hasPrefix("/\(envB)/") }
        #expect(all == ids.sorted())
        #expect(try await store.listSecrets(in: .only(try Environment(envB))).map(\.id.rawValue) == ["/\(envB)/a/api-key/x"])
    }
}
