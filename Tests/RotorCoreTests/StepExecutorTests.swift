import Foundation
import Synchronization
import Testing
import RotorCore
import RotorRotators

/// The one implementation of the four steps: how many Secrets Manager calls a rotation costs on each
/// path, and the read rules (a failed `AWSPREVIOUS` read is an error, never "no previous value").
@Suite struct StepExecutorTests {
    let id = try! SecretID("/prod/shop/api-key/vendor")

    /// Counts each store call by API name, and can fail chosen calls once.
    final class CountingStore: ForwardingSecretStore, @unchecked Sendable {
        let base: any SecretStore
        private let state = Mutex<(calls: [String: Int], failPreviousReads: Int)>(([:], 0))
        init(_ base: any SecretStore) { self.base = base }

        var calls: [String: Int] { state.withLock { $0.calls } }
        var total: Int { calls.values.reduce(0, +) }
        func reset() { state.withLock { $0.calls = [:] } }
        func throttlePreviousReads(_ count: Int) { state.withLock { $0.failPreviousReads = count } }
        private func count(_ api: String) { state.withLock { $0.calls[api, default: 0] += 1 } }

        func describeSecret(_ id: SecretID) async throws -> SecretDescription { count("DescribeSecret"); return try await base.describeSecret(id) }
        func getSecretValue(_ id: SecretID, _ selector: VersionSelector) async throws -> SecretVersionValue {
            count("GetSecretValue")
            let throttled = state.withLock { state in
                guard selector.effectiveStage == .previous, state.failPreviousReads > 0 else { return false }
                state.failPreviousReads -= 1
                return true
            }
            if throttled { throw RotorError(.transient, "Rate exceeded (ThrottlingException)", secret: id, isTransient: true) }
            return try await base.getSecretValue(id, selector)
        }
        @discardableResult
        func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome { count("PutSecretValue"); return try await base.putSecretValue(input) }
        func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws { count("UpdateSecretVersionStage"); try await base.updateSecretVersionStage(input) }
        /// Counted as Secrets Manager makes them: one call per label move.
        func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws { try await updateSecretVersionStagesOneByOne(inputs) }
        func getRandomPassword(_ policy: PasswordPolicy) async throws -> SecretValue { count("GetRandomPassword"); return try await base.getRandomPassword(policy) }
    }

    /// A rotator with a target that records the previous value each setSecret saw.
    final class TargetRotator: Rotator, @unchecked Sendable {
        let kind: RotatorKind = "test-target"
        var hasTarget: Bool { true }
        let seen = Mutex<[String?]>([])
        func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
            CreateSecretResponse(newValue: SecretValue(string: "next-\(context.token)"))
        }
        func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse {
            seen.withLock { $0.append(request.previous?.exposedString) }
            return SetSecretResponse()
        }
        func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse { TestSecretResponse() }
    }

    @Test func aFullRotationOnTheEnginePathMakesSixCalls() async throws {
        let store = CountingStore(InMemorySecretStore())
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn)
        _ = try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions([:]), initialValue: SecretValue(string: "v0"))
        for _ in 0..<3 {
            store.reset()
            let report = try await engine.rotate(id)
            #expect(report.succeeded)
            // DescribeSecret at the start, before AWSCURRENT moves and once to verify the labels;
            // PutSecretValue once; UpdateSecretVersionStage for AWSCURRENT and to strip AWSPENDING.
            // The current value is not needed for a whole new password, and the value just written
            // is never read back.
            #expect(store.calls == ["DescribeSecret": 3, "PutSecretValue": 1, "UpdateSecretVersionStage": 2], "\(store.calls)")
        }
    }

    /// A store that moves both labels in one transaction and replays nothing (as the embedded one).
    struct LocalTransactionalStore: ForwardingSecretStore {
        let base: any SecretStore
        var labelsNeedReadBack: Bool { false }
    }

    @Test func aLocalStoreThatMovesLabelsInOneTransactionIsNotReadBack() async throws {
        let store = CountingStore(LocalTransactionalStore(base: InMemorySecretStore()))
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn)
        _ = try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions([:]), initialValue: SecretValue(string: "v0"))
        store.reset()
        #expect(try await engine.rotate(id).succeeded)
        #expect(store.calls == ["DescribeSecret": 2, "PutSecretValue": 1, "UpdateSecretVersionStage": 2], "\(store.calls)")
        let labels = try await store.describeSecret(id).versionIDsToStages.values.filter { !$0.isEmpty }
        #expect(labels.count == 2, "AWSCURRENT and AWSPREVIOUS, no AWSPENDING left")
    }

    @Test func aRotatorThatKeepsOtherJSONFieldsReadsTheCurrentValueOnce() async throws {
        let store = CountingStore(InMemorySecretStore())
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn)
        _ = try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["field": "password"]),
                                                 initialValue: SecretValue(string: #"{"password":"v0","username":"app"}"#))
        store.reset()
        #expect(try await engine.rotate(id).succeeded)
        #expect(store.calls == ["DescribeSecret": 3, "GetSecretValue": 1, "PutSecretValue": 1, "UpdateSecretVersionStage": 2], "\(store.calls)")
        let rotated = try await store.getSecretValue(id, .current).value.exposedString ?? ""
        #expect(rotated.contains(#""username":"app""#), "the other fields are kept")
    }

    /// The four invocations Secrets Manager makes of a rotation function, each from an empty snapshot.
    func invokeAll(_ executor: StepExecutor, token: VersionID, rotator: any Rotator) async throws {
        for step in RotationStep.allCases {
            let request = StepExecutor.Request(step: step, secret: id, token: token, rotator: rotator, logger: .init(label: "test"), now: Date())
            _ = try await executor.run(request, snapshot: SecretSnapshot())
        }
    }

    /// A rotator whose testSecret takes AWSPENDING off the token, as an operator aborting the rotation would.
    struct AbortingRotator: Rotator {
        let kind: RotatorKind = "test-aborted"
        func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
            CreateSecretResponse(newValue: SecretValue(string: "next"))
        }
        func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
            try await context.store.updateSecretVersionStage(UpdateVersionStageInput(id: context.secret, stage: .pending, removeFrom: context.token))
            return TestSecretResponse()
        }
    }

    @Test func labelsChangedDuringTheRunAreSeenBeforeAWSCURRENTMoves() async throws {
        let store = InMemorySecretStore()
        var registry = RotatorRegistry.builtIn
        registry.register(RotatorDescriptor(kind: "test-aborted", summary: "test", options: [:],
                                            build: { _ throws(RotorError) in AbortingRotator() }, initialValue: { _, _ in nil }))
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: registry)
        _ = try await engine.createManagedSecret(id, rotator: "test-aborted", options: RotatorOptions([:]), initialValue: SecretValue(string: "v0"))
        let before = try await store.describeSecret(id).holder(of: .current)
        let report = try await engine.rotate(id)
        #expect(!report.succeeded)
        #expect(report.error?.summary.contains("not set as AWSPENDING") == true, "\(String(describing: report.error))")
        #expect(try await store.describeSecret(id).holder(of: .current) == before, "AWSCURRENT stayed where it was")
    }

    @Test func theLambdaPathMakesNoMoreCallsThanAWSsTemplate() async throws {
        let memory = InMemorySecretStore()
        _ = try await memory.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        let store = CountingStore(memory)
        let token = VersionID(UUID().uuidString.lowercased())
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions([:]))
        // Mode (a) as the engine would start it, then the four invocations as Secrets Manager sends them.
        var generator = SystemRandomNumberGenerator()
        let pending = try PasswordPolicy().generate(using: &generator)
        try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: pending, stages: [.pending]))
        store.reset()
        try await invokeAll(StepExecutor(store: store, mode: .lambda(rotationToken: nil)), token: token, rotator: rotator)
        #expect(store.total <= 11, "AWS's generic template makes 11 calls; rotor made \(store.calls)")
        #expect(try await memory.describeSecret(id).holder(of: .current) == token)
    }

    @Test func aThrottledPreviousReadFailsTheStepInsteadOfProceedingWithoutIt() async throws {
        let memory = InMemorySecretStore()
        _ = try await memory.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        // A first rotation leaves v0 as AWSPREVIOUS.
        let first = VersionID(UUID().uuidString.lowercased())
        try await memory.putSecretValue(PutSecretValueInput(id: id, token: first, value: SecretValue(string: "v1"), stages: [.current]))
        let store = CountingStore(memory)
        let rotator = TargetRotator()
        let executor = StepExecutor(store: store, mode: .lambda(rotationToken: nil))
        let token = VersionID(UUID().uuidString.lowercased())
        try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: SecretValue(string: "v2"), stages: [.pending]))
        let setSecret = StepExecutor.Request(step: .setSecret, secret: id, token: token, rotator: rotator, logger: .init(label: "test"), now: Date())

        store.throttlePreviousReads(1)
        await #expect(throws: RotorError.self) { _ = try await executor.run(setSecret, snapshot: SecretSnapshot()) }
        #expect(rotator.seen.withLock { $0 }.isEmpty, "the rotator was never called without its previous value")
        // Secrets Manager retries the invocation: now the read succeeds and the rotator gets the value.
        _ = try await executor.run(setSecret, snapshot: SecretSnapshot())
        #expect(rotator.seen.withLock { $0 } == ["v0"])
    }

    /// A rotation function's finishSecret promotes only a version that passed testSecret, and
    /// testSecrets that overlap leave one label, which finishSecret removes.
    @Test func theLambdaModePromotesOnlyATestedVersionAndLeavesNoLabel() async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        let original = try #require(try await store.describeSecret(id).holder(of: .current))
        let token = VersionID(UUID().uuidString.lowercased())
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions([:]))
        let executor = StepExecutor(store: store, mode: .lambda(rotationToken: nil))
        func run(_ step: RotationStep) async throws {
            _ = try await executor.run(StepExecutor.Request(step: step, secret: id, token: token, rotator: rotator, logger: .init(label: "test"), now: Date()), snapshot: SecretSnapshot())
        }
        var generator = SystemRandomNumberGenerator()
        try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: try PasswordPolicy().generate(using: &generator), stages: [.pending]))
        await #expect { try await run(.finishSecret) } throws: { error in
            let error = error as? RotorError
            return error?.code == .untestedVersion && error?.step == .finishSecret && error?.summary.contains("AWSCURRENT stays on version \(original)") == true
        }
        #expect(try await store.describeSecret(id).holder(of: .current) == original)

        async let first: Void = run(.testSecret)
        async let second: Void = run(.testSecret)
        _ = try await (first, second)
        #expect(try await store.describeSecret(id).holder(of: .tested) == token)
        try await run(.finishSecret)
        try await run(.finishSecret)
        let labels = try await store.describeSecret(id).versionIDsToStages
        #expect(labels[token]?.contains(.current) == true && !labels.values.contains { $0.contains(.tested) })
    }

    /// An older version that kept the label (its rotation never finished) gives it up to the new one.
    @Test func theTestedLabelMovesOffAnAbandonedVersion() async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        let abandoned = VersionID(UUID().uuidString.lowercased())
        try await store.putSecretValue(PutSecretValueInput(id: id, token: abandoned, value: SecretValue(string: "old"), stages: [.tested]))
        let token = VersionID(UUID().uuidString.lowercased())
        var generator = SystemRandomNumberGenerator()
        try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: try PasswordPolicy().generate(using: &generator), stages: [.pending]))
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions([:]))
        let executor = StepExecutor(store: store, mode: .lambda(rotationToken: nil))
        for step in [RotationStep.testSecret, .finishSecret] {
            _ = try await executor.run(StepExecutor.Request(step: step, secret: id, token: token, rotator: rotator, logger: .init(label: "test"), now: Date()), snapshot: SecretSnapshot())
        }
        let labels = try await store.describeSecret(id).versionIDsToStages
        #expect(labels[token]?.contains(.current) == true && !labels.values.contains { $0.contains(.tested) })
    }

    /// A target rotator whose test can be made to fail.
    final class FlakyTestRotator: Rotator, Sendable {
        let kind: RotatorKind = "test-flaky"
        var hasTarget: Bool { true }
        let failsTest = Mutex(false)
        func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
            CreateSecretResponse(newValue: SecretValue(string: "next-\(context.token)"))
        }
        func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse { SetSecretResponse() }
        func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
            if failsTest.withLock({ $0 }) { throw RotorError(.stepFailed, "the target refuses the pending value", step: .testSecret) }
            return TestSecretResponse()
        }
    }

    /// ROTOR_TESTED means "passed its last test": a failed test, or a setSecret run again, takes it off,
    /// and finishSecret then refuses.
    @Test func theTestedLabelGoesWhenTheLastTestFailedOrTheTargetChangedAgain() async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        let token = VersionID(UUID().uuidString.lowercased())
        try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: SecretValue(string: "next"), stages: [.pending]))
        let rotator = FlakyTestRotator()
        let executor = StepExecutor(store: store, mode: .lambda(rotationToken: nil))
        func run(_ step: RotationStep) async throws {
            _ = try await executor.run(StepExecutor.Request(step: step, secret: id, token: token, rotator: rotator, logger: .init(label: "test"), now: Date()), snapshot: SecretSnapshot())
        }
        try await run(.testSecret)
        #expect(try await store.describeSecret(id).holder(of: .tested) == token)
        rotator.failsTest.withLock { $0 = true }
        await #expect(throws: RotorError.self) { try await run(.testSecret) }
        #expect(try await store.describeSecret(id).holder(of: .tested) == nil)
        await #expect { try await run(.finishSecret) } throws: { ($0 as? RotorError)?.code == .untestedVersion }

        rotator.failsTest.withLock { $0 = false }
        try await run(.testSecret)
        try await run(.setSecret)
        #expect(try await store.describeSecret(id).holder(of: .tested) == nil, "setSecret changed the target after the test")
        await #expect { try await run(.finishSecret) } throws: { ($0 as? RotorError)?.code == .untestedVersion }
        try await run(.testSecret)
        try await run(.finishSecret)
        #expect(try await store.describeSecret(id).holder(of: .current) == token)
    }
}
