import Foundation
import Testing
import RotorAWS
import RotorCore
@testable import RotorStorage

/// rotor's own runs (CLI, daemon) never move AWSCURRENT to a version without a value or one their
/// journal has not seen pass testSecret, even when they adopt a rotation Secrets Manager started.
@Suite struct PromotionGuardEngineTests {
    /// RotateSecret's empty AWSPENDING placeholder, as Secrets Manager leaves it when the function never ran.
    static func startRotationOnMoto(_ id: SecretID) async throws -> VersionID {
        let token = VersionID(UUID().uuidString.lowercased())
        let body: [String: Any] = [
            "SecretId": id.rawValue, "ClientRequestToken": token.rawValue,
            "RotationLambdaARN": "arn:aws:lambda:us-east-1:123456789012:function:absent", "RotationRules": ["AutomaticallyAfterDays": 30],
        ]
        // moto cannot invoke the function; it answers with an error after it made the placeholder.
        _ = try? await MotoEnvironment.client().send(.rotateSecret, body: try JSONSerialization.data(withJSONObject: body), secret: id)
        return token
    }

    @Test(.enabled(if: MotoEnvironment.current != nil || MotoEnvironment.required, "moto runs under 'make test'"))
    func anAdoptedPlaceholderIsFilledAndTestedBeforeItIsPromoted() async throws {
        let harness = try await Harness(.aws, stuckPending: .resume)
        let original = try await harness.current()
        let token = try await Self.startRotationOnMoto(harness.secret)
        await #expect(throws: RotorError.self) { _ = try await harness.store.getSecretValue(harness.secret, .pending(token)) }

        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.resumed && report.token == token && report.outcome == .succeeded)
        #expect(report.steps.map(\.step) == [.createSecret, .setSecret, .testSecret, .finishSecret])
        #expect(report.steps.first?.outcome == .succeeded, "createSecret filled the placeholder")
        let current = try await harness.current()
        #expect(current.versionID == token && current.value.byteCount > 0 && harness.rotator.target.value == current.value)
        try await harness.expectCleanlyRotated(from: original, to: token)
    }

    /// A journal that says testSecret passed for a version that has no value (edited, or a bug):
    /// finishSecret refuses, the rotation is rolled back, AWSCURRENT keeps its version and value.
    @Test(.enabled(if: MotoEnvironment.current != nil || MotoEnvironment.required, "moto runs under 'make test'"))
    func aJournalClaimingATestedEmptyVersionCannotPromoteIt() async throws {
        let harness = try await Harness(.aws)
        let original = try await harness.current()
        let token = try await Self.startRotationOnMoto(harness.secret)
        let record = RotationRecord(token: token, secret: harness.secret, trigger: "adopted", startedAt: harness.clock.now())
        try await harness.state.beginRotation(record, audit: AuditEvent(at: harness.clock.now(), actor: "test", secret: harness.secret, operation: "seed", outcome: "ok"))
        for step in [RotationStep.createSecret, .setSecret, .testSecret] {
            let id = try await harness.state.beginStep(token: token, step: JournalStep(step), attempt: 1, at: harness.clock.now())
            try await harness.state.endStep(id, token: token, outcome: .succeeded, error: nil, at: harness.clock.now(), completes: step)
        }

        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.summary.contains("has no value") == true, "\(String(describing: report.error))")
        let current = try await harness.current()
        #expect(current.versionID == original.versionID && current.value == original.value)
        #expect(try await harness.labels().values.allSatisfy { !$0.contains(.pending) }, "the empty placeholder is abandoned")
    }

    /// Only Secrets Manager has versions without a value (RotateSecret's placeholder).
    @Test(.enabled(if: MotoEnvironment.current != nil || MotoEnvironment.required, "moto runs under 'make test'"))
    func rollingBackToAVersionWithoutAValueIsRefused() async throws {
        let harness = try await Harness(.aws)
        let original = try await harness.current()
        let token = try await Self.startRotationOnMoto(harness.secret)
        // An operator puts AWSPREVIOUS on the empty placeholder by hand.
        try await harness.store.updateSecretVersionStage(UpdateVersionStageInput(id: harness.secret, stage: .pending, removeFrom: token))
        try await harness.store.updateSecretVersionStage(UpdateVersionStageInput(id: harness.secret, stage: .previous, moveTo: token))
        await #expect { _ = try await harness.engine.rollbackToPrevious(harness.secret) } throws: { error in
            (error as? RotorError)?.code == .untestedVersion && "\(error)".contains("has no value")
        }
        #expect(try await harness.current().versionID == original.versionID)
    }

    /// A rotation a rotation function had tested (ROTOR_TESTED on the pending version), adopted by
    /// rotor and rolled back: neither AWSPENDING nor rotor's label is left.
    @Test(arguments: Backend.available)
    func anAdoptedRotationRolledBackLeavesNoRotorLabel(backend: Backend) async throws {
        let harness = try await Harness(backend, stuckPending: .resume)
        let original = try await harness.current()
        let stuck = VersionID(UUID().uuidString.lowercased())
        try await harness.store.putSecretValue(PutSecretValueInput(id: harness.secret, token: stuck, value: SecretValue(string: "half-done"), stages: [.pending]))
        try await harness.store.updateSecretVersionStage(UpdateVersionStageInput(id: harness.secret, stage: .tested, moveTo: stuck))
        harness.rotator.on(.test, .fail(transient: false))
        let report = try await harness.engine.rotate(harness.secret)
        #expect(report.resumed && report.outcome == .rolledBack)
        #expect(try await harness.current().versionID == original.versionID)
        let labels = try await harness.labels()
        #expect(labels.values.allSatisfy { !$0.contains(.pending) && !$0.contains(.tested) }, "\(labels)")
    }
}
