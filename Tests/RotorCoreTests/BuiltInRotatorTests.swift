import Foundation
import Logging
import Testing
import RotorCore
import RotorRotators

@Suite struct BuiltInRotatorTests {
    let secret = try! SecretID("/prod/github-integration/api-token/personal-access-token")

    func context(_ store: any SecretStore = InMemorySecretStore()) -> RotationContext {
        RotationContext(secret: secret, token: "aaaaaaaa-0000-4000-8000-000000000001", store: store, logger: Logger(label: "test"), now: .now)
    }

    @Test(arguments: [
        (["length": "0"], "length"), (["length": "abc"], "length"), (["exclude-numbers": "maybe"], "exclude-numbers"),
        (["exclude-lowercase": "true", "exclude-uppercase": "true", "exclude-numbers": "true", "exclude-punctuation": "true"], "exclude every character"),
        (["colour": "blue"], "unknown option"),
    ])
    func randomPasswordRejectsBadOptions(options: [String: String], message: String) {
        #expect { try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions(options)) } throws: { error in
            let error = error as? RotorError
            return error?.code == .invalidOption && error?.description.contains(message) == true
        }
    }

    @Test func unknownKindListsTheKnownOnes() {
        #expect { try RotatorRegistry.builtIn.make("github-app", options: RotatorOptions()) } throws: { error in
            (error as? RotorError)?.code == .unknownRotator && (error as? RotorError)?.remedy?.contains("random-password") == true
        }
    }

    @Test func randomPasswordReplacesOnlyItsJSONField() async throws {
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions(["field": "token", "length": "40"]))
        let current = SecretValue(string: #"{"token":"ghp_old","username":"github-user"}"#)
        let created = try await rotator.createSecret(CreateSecretRequest(current: current), context: context())
        let object = try JSONSerialization.jsonObject(with: Data(created.newValue.exposedString!.utf8)) as! [String: String]
        #expect(object["username"] == "github-user")
        #expect(object["token"]?.count == 40 && object["token"] != "ghp_old")
        _ = try await rotator.testSecret(TestSecretRequest(pending: created.newValue), context: context())
    }

    @Test func randomPasswordTestRejectsAValueOutsideItsOptions() async throws {
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions(["length": "12"]))
        await #expect { try await rotator.testSecret(TestSecretRequest(pending: SecretValue(string: "too-short")), context: context()) } throws: { error in
            (error as? RotorError)?.summary.contains("does not fit") == true && !"\(error)".contains("too-short")
        }
    }

    @Test func randomPasswordFieldOnNonJSONValueIsAClearError() async throws {
        let rotator = try RotatorRegistry.builtIn.make("random-password", options: RotatorOptions(["field": "password"]))
        await #expect { try await rotator.testSecret(TestSecretRequest(pending: SecretValue(string: "plain-canary")), context: context()) } throws: { error in
            (error as? RotorError)?.code == .invalidInput && !"\(error)".contains("plain-canary")
        }
    }

    @Test func encryptionKeysAreFreshAndTestedByAnAESGCMRoundTrip() async throws {
        let rotator = try RotatorRegistry.builtIn.make("encryption-key", options: RotatorOptions())
        let current = EncryptionKeyRotator.generateKey()
        let first = try await rotator.createSecret(CreateSecretRequest(current: current), context: context()).newValue
        let second = try await rotator.createSecret(CreateSecretRequest(current: current), context: context()).newValue
        #expect(first.kind == .binary && first.byteCount == 32 && first != second && first != current)
        _ = try await rotator.testSecret(TestSecretRequest(pending: first), context: context())
        await #expect(throws: RotorError.self) {
            try await rotator.testSecret(TestSecretRequest(pending: SecretValue(bytes: [1, 2, 3])), context: context())
        }
        await #expect(throws: RotorError.self) {
            try await rotator.testSecret(TestSecretRequest(pending: SecretValue(string: String(repeating: "k", count: 32))), context: context())
        }
    }

    @Test func manualRotatorNeedsAValueAndChecksItsPattern() async throws {
        let rotator = try RotatorRegistry.builtIn.make("manual", options: RotatorOptions(["pattern": "sk-ant-[A-Za-z0-9_-]{8,}", "field": "apiKey"]))
        let current = SecretValue(string: #"{"apiKey":"sk-ant-oldoldold","model":"claude"}"#)
        await #expect { try await rotator.createSecret(CreateSecretRequest(current: current), context: context()) } throws: { error in
            (error as? RotorError)?.remedy?.contains("--value-stdin") == true
        }
        let created = try await rotator.createSecret(CreateSecretRequest(current: current, suppliedValue: SecretValue(string: "sk-ant-newnewnew")), context: context())
        #expect(created.newValue.exposedString == #"{"apiKey":"sk-ant-newnewnew","model":"claude"}"#)
        _ = try await rotator.testSecret(TestSecretRequest(pending: created.newValue), context: context())
        let bad = try await rotator.createSecret(CreateSecretRequest(current: current, suppliedValue: SecretValue(string: "pasted-wrong-thing")), context: context())
        await #expect { try await rotator.testSecret(TestSecretRequest(pending: bad.newValue), context: context()) } throws: { error in
            (error as? RotorError)?.summary.contains("does not match") == true && !"\(error)".contains("pasted-wrong-thing")
        }
    }

    @Test func manualRotatorRejectsAnInvalidPattern() {
        #expect { try RotatorRegistry.builtIn.make("manual", options: RotatorOptions(["pattern": "(unclosed"])) } throws: { ($0 as? RotorError)?.code == .invalidOption }
    }
}
