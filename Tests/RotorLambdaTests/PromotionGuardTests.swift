import Foundation
import RotorAWS
import RotorCore
import Testing

/// finishSecret never promotes a version that has no value or has not passed testSecret, whatever
/// order the function is invoked in; and rotor's tested label never outlives its rotation.
@Suite(.serialized) struct PromotionGuardTests {
    @Test func finishSecretOnTheEmptyPlaceholderFailsAndChangesNothing() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"])
        defer { harness.stop() }
        let (id, arn, original) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        let result = await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, token))
        guard case .error(let type, let text) = result else { Issue.record("finishSecret must fail: \(result)"); return }
        #expect(type == "Rotor.untested-version" && text.contains(token.rawValue) && text.contains("AWSCURRENT stays on version \(original)"))
        try await expectUnchanged(harness, id, original: original, pending: token)
    }

    @Test func finishSecretBeforeTestSecretFailsAndChangesNothing() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"])
        defer { harness.stop() }
        let (id, arn, original) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        for step in [RotationStep.createSecret, .setSecret] {
            #expect(await harness.emulator.invoke(LambdaHarness.event(step, arn, token)).isSuccess)
        }
        guard case .error(let type, _) = await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, token)) else {
            Issue.record("finishSecret must fail before testSecret"); return
        }
        #expect(type == "Rotor.untested-version")
        try await expectUnchanged(harness, id, original: original, pending: token)
        #expect(try await harness.store.getSecretValue(id, .pending(token)).value.byteCount > 0, "the created value stays pending")

        // In order, the same rotation then finishes, and leaves no label of rotor's behind.
        #expect(await harness.emulator.invoke(LambdaHarness.event(.testSecret, arn, token)).isSuccess)
        #expect(try await harness.store.describeSecret(id).holder(of: .tested) == token)
        #expect(await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, token)).isSuccess)
        try await expectFinished(harness, id, token: token)
    }

    /// Two function instances (two processes) get each step at the same time, as Secrets Manager's
    /// retries and a hand-made invocation can overlap. testSecret's overlap is tested on the in-memory
    /// store (StepExecutorTests): moto, unlike Secrets Manager, attaches a label twice to a version
    /// when two calls add it at once, so here testSecret runs twice in a row.
    @Test func concurrentInvocationsOfEachStepStayIdempotent() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"])
        let other = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"])
        defer { harness.stop(); other.stop() }
        let (id, arn, _) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        for step in RotationStep.allCases {
            guard step != .testSecret else {
                for function in [harness, other] { #expect(await function.emulator.invoke(LambdaHarness.event(step, arn, token)).isSuccess) }
                continue
            }
            async let first = harness.emulator.invoke(LambdaHarness.event(step, arn, token))
            async let second = other.emulator.invoke(LambdaHarness.event(step, arn, token))
            let (a, b) = await (first, second)
            #expect(a.isSuccess && b.isSuccess, "\(step): \(a), \(b)")
        }
        // A repeat after success changes nothing either.
        #expect(await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, token)).isSuccess)
        try await expectFinished(harness, id, token: token)
    }

    /// AWSCURRENT still on the original version with its value; the pending version carries no tested label.
    func expectUnchanged(_ harness: LambdaHarness, _ id: SecretID, original: VersionID, pending: VersionID) async throws {
        let current = try await harness.store.getSecretValue(id, .current)
        #expect(current.versionID == original && current.value.exposedString == "initial")
        let labels = try await harness.store.describeSecret(id).versionIDsToStages
        #expect(labels[pending] == [.pending])
    }

    func expectFinished(_ harness: LambdaHarness, _ id: SecretID, token: VersionID) async throws {
        let current = try await harness.store.getSecretValue(id, .current)
        #expect(current.versionID == token && current.value.byteCount > 0)
        let labels = try await harness.store.describeSecret(id).versionIDsToStages
        #expect(!labels.values.contains { $0.contains(.tested) }, "no ROTOR_TESTED left: \(labels)")
    }
}
