import Foundation
import RotorAWS
import RotorCore
import RotorPolicies
import RotorRotators
import RotorTestSupport
import Testing

/// The Lambda rotation function's generated policy (`rotor iam policy --role lambda`) on a moto_server
/// with IAM enforcement on: the real function binary completes a rotation with only its actions, and
/// every call moto recorded is allowed by the document's real resources (the CLI half is in
/// RotorCLITests' IAMPolicyTests).
@Suite(.enabled(if: MotoSettings.enabled, "moto_server runs under 'make test'"))
struct IAMLambdaPolicyTests {
    @Test func theFunctionsPolicySufficesForAFullRotationAndCoversOnlyItsSecrets() async throws {
        try await HeavyTests.oneAtATime {
            let environment = "lam" + UUID().uuidString.lowercased().filter(\.isLetter).prefix(8)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("iam-lambda-\(UUID().uuidString).yaml")
            defer { try? FileManager.default.removeItem(at: file) }
            try """
                policies:
                  - name: keys
                    match: [/\(environment)/*/api-key/*]
                    rotator: random-password
                    every: 30d
                """.write(to: file, atomically: true, encoding: .utf8)
            let set = try PolicyLoader(rotators: .builtIn).load(path: file.path)
            let generator = IAMPolicyGenerator(policies: set.policies, scope: IAMScope(account: "123456789012", regions: ["us-east-1"]))
            let document = generator.lambda(environment)
            let bundle = try JSONSerialization.data(withJSONObject: IAMPolicyDocument.bundle([document]))
            let moto = try await IAMMoto(policies: bundle)
            defer { moto.stop() }
            let key = try moto.credentials(document.name)
            let harness = try await LambdaHarness(
                environment: ["ROTOR_ROTATOR": "random-password", "AWS_ACCESS_KEY_ID": key.accessKey, "AWS_SECRET_ACCESS_KEY": key.secretKey],
                endpoint: moto.endpoint, moto: try moto.credentials("admin"))
            defer { harness.stop() }
            let id = try SecretID("/\(environment)/shop/api-key/vendor")
            _ = try await harness.store.createSecret(CreateSecretInput(id: id, tags: [:], initialValue: SecretValue(string: "initial-value-0")))
            let arn = try await harness.client.send(.describeSecret, body: Data(#"{"SecretId":"\#(id.rawValue)"}"#.utf8), secret: id).object()["ARN"] as? String ?? ""
            let token = try await harness.startRotation(id)
            for step in RotationStep.allCases {
                #expect(await harness.emulator.invoke(LambdaHarness.event(step, arn, token)).isSuccess, "\(step): \(harness.output.suffix(400))")
            }
            #expect(try await harness.store.describeSecret(id).versionIDsToStages[token]?.contains(.current) == true)

            let other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:/x\(environment)/shop/api-key/vendor-AbCdEf"
            let evaluation = try await moto.evaluate(probes: [
                ["policy": document.name, "action": "secretsmanager:PutSecretValue", "resource": arn, "expect": "allow"],
                ["policy": document.name, "action": "secretsmanager:PutSecretValue", "resource": other, "expect": "deny"],
                ["policy": document.name, "action": "secretsmanager:ListSecrets", "resource": "*", "expect": "deny"],
                ["policy": document.name, "action": "logs:PutLogEvents", "resource":
                    "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/rotor-rotation:log-stream:2026/12/06/[$LATEST]abc", "expect": "allow"],
            ])
            #expect(evaluation.status == 0, "\(evaluation.output)")
            #expect(evaluation.output.contains("recorded \(document.name): secretsmanager:UpdateSecretVersionStage"))
            }
    }
}
