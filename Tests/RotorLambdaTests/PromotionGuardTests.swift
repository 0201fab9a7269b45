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

    /// testSecret passes (ROTOR_TESTED goes on), then the target stops accepting the pending value and
    /// testSecret is invoked again: it fails and takes the label off, so finishSecret is refused and
    /// AWSCURRENT stays. Applying the value again and a passing test then let the rotation finish.
    /// The rotator is an exec plug-in with a real target (a file), shipped in the function's package.
    @Test func aFailedRetestTakesTheTestedLabelOffAndFinishSecretIsRefused() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-task-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("plugins"), withIntermediateDirectories: true)
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("RotorPluginsTests/Fixtures/rotor-rotator-file-target")
        try FileManager.default.copyItem(at: fixture, to: root.appendingPathComponent("plugins/rotor-rotator-file-target"))
        let target = root.appendingPathComponent("target")
        try "initial".write(to: target, atomically: true, encoding: .utf8)
        let harness = try await LambdaHarness(environment: [
            "LAMBDA_TASK_ROOT": root.path, "ROTOR_ROTATOR": "file-target", "ROTOR_OPTION_TARGET_FILE": target.path,
        ])
        defer { harness.stop() }
        let (id, arn, original) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        for step in [RotationStep.createSecret, .setSecret, .testSecret] {
            let result = await harness.emulator.invoke(LambdaHarness.event(step, arn, token))
            #expect(result.isSuccess, "\(step): \(result) \(harness.output)")
        }
        #expect(Set(try await harness.store.describeSecret(id).versionIDsToStages[token] ?? []) == [.pending, .tested])

        // The target no longer accepts the pending value (someone reset it).
        try "reset-by-someone-else".write(to: target, atomically: true, encoding: .utf8)
        guard case .error(_, let text) = await harness.emulator.invoke(LambdaHarness.event(.testSecret, arn, token)) else {
            Issue.record("testSecret must fail when the target does not accept the value"); return
        }
        #expect(text.contains("the target does not accept the pending value"), "\(text)")
        try await expectUnchanged(harness, id, original: original, pending: token)

        guard case .error(let type, let refusal) = await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, token)) else {
            Issue.record("finishSecret must be refused after a failed testSecret"); return
        }
        #expect(type == "Rotor.untested-version" && refusal.contains("AWSCURRENT stays on version \(original)"), "\(type): \(refusal)")
        try await expectUnchanged(harness, id, original: original, pending: token)
        let untouched = try String(contentsOf: target, encoding: .utf8) == "reset-by-someone-else"
        #expect(untouched, "finishSecret's hook did not run")

        // In order again, the same token finishes and leaves no label of rotor's.
        for step in [RotationStep.setSecret, .testSecret, .finishSecret] {
            let result = await harness.emulator.invoke(LambdaHarness.event(step, arn, token))
            #expect(result.isSuccess, "\(step): \(result) \(harness.output)")
        }
        try await expectFinished(harness, id, token: token)
        let applied = try String(contentsOf: target, encoding: .utf8) == (try await harness.store.getSecretValue(id, .current).value.exposedString)
        #expect(applied, "the target holds AWSCURRENT")
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
