import Foundation
import RotorCore
import Testing

/// An exec plug-in shipped in the deployment package (`plugins/` beside the bootstrap) makes the
/// function a Secrets Manager rotation function for its kind, with no new code.
@Suite struct PluginFunctionTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/rotators/rotor-rotator-example-token")

    @Test func aPackagedPluginRotatesThroughTheFunction() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-task-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("plugins"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.example, to: root.appendingPathComponent("plugins/rotor-rotator-example-token"))
        let harness = try await LambdaHarness(environment: ["LAMBDA_TASK_ROOT": root.path, "ROTOR_ROTATOR": "example-token", "ROTOR_OPTION_BYTES": "12"])
        defer { harness.stop() }
        let (id, arn, _) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        for step in RotationStep.allCases {
            let result = await harness.emulator.invoke(LambdaHarness.event(step, arn, token))
            #expect(result.isSuccess, "\(step): \(result) \(harness.output)")
        }
        let current = try await harness.store.getSecretValue(id, .current)
        #expect(current.versionID == token && current.value.exposedString?.count == 24)
    }

    @Test func aPluginThatShadowsABuiltInIsAnInitError() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-task-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("plugins"), withIntermediateDirectories: true)
        let shadow = root.appendingPathComponent("plugins/rotor-rotator-random-password")
        try "#!/bin/sh\nexit 0\n".write(to: shadow, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: shadow.path)
        let harness = try await LambdaHarness(environment: ["LAMBDA_TASK_ROOT": root.path])
        defer { harness.stop() }
        #expect(try await harness.waitForExit() == 1)
        #expect(harness.emulator.initErrors.first?.contains("shadow the built-in rotator random-password") == true, "\(harness.emulator.initErrors)")
    }
}
