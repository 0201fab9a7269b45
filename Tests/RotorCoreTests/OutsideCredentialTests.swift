import Foundation
import Testing
import RotorCore
import RotorRotators

/// A rotator without a target that makes its own values must not "rotate" a credential of an
/// outside system (it would write a string that system does not know), unless told value-only.
@Suite struct OutsideCredentialTests {
    static let cases: [(String, String?)] = [
        (#"{"engine":"postgres","host":"db.internal","username":"app","password":"p-4f2a"}"#, "AWS's database secret JSON"),
        (#"{"token":"ghp_Abc123secretpart0000000000000000000","login":"octo"}"#, "field token is a GitHub personal access token"),
        ("github_pat_11ABCDEFG0secretpart", "the value is a GitHub personal access token"),
        (#"{"token":"ghs_installationsecret000000000000000"}"#, "a GitHub App installation token"),
        ("  sk-ant-api03-secretpart-0000000000\n", "the value is an Anthropic API key"),
        (#"{"userPoolId":"eu-west-1_AbC123","clientId":"c1","clientSecret":"s-99"}"#, "Cognito user pool and app client"),
        (#"{"service":{"github":{"token":"ghp_nestedsecretpart000000000000000"}}}"#, "field token is a GitHub personal access token"),
        (#"[{"key":"sk-ant-api03-secretpart-in-a-list"}]"#, "field key is an Anthropic API key"),
        (#""ghp_jsonstringsecretpart0000000000000""#, "the value is a GitHub personal access token"),
        ("\u{FEFF}ghp_bomsecretpart000000000000000000000", "the value is a GitHub personal access token"),
        (#"{"tok\nFAKE LOG":"ghp_secretpart0000000000000000000000000"}"#, "field (a field) is a GitHub"),
        (#"{"password":"p-4f2a","username":"app"}"#, nil),
        ("just-a-random-password", nil),
    ]

    @Test(arguments: cases)
    func recognisesWhatBelongsToAnOutsideSystemWithoutQuotingIt(value: String, expected: String?) {
        let found = OutsideCredential.recognise(SecretValue(string: value))
        #expect(found?.contains(expected ?? "\u{0}") ?? (expected == nil), "\(String(describing: found))")
        for secretPart in ["secretpart", "p-4f2a", "s-99"] { #expect(found?.contains(secretPart) != true) }
    }

    @Test func aBinaryValueIsReadAsText() {
        let value = SecretValue(bytes: Array("ghp_binarysecretpart000000000000000000".utf8))
        #expect(OutsideCredential.recognise(value)?.contains("GitHub") == true)
    }

    @Test func valueOnlyIsRefusedWhereItMeansNothingAndShownAsAWeakening() throws {
        let registry = RotatorRegistry.builtIn
        #expect(throws: RotorError.self) { try registry.make("manual", options: RotatorOptions(["value-only": "true"])) }
        _ = try registry.make("random-password", options: RotatorOptions(["value-only": "true"]))
        #expect(registry.securityWeaknesses("random-password", options: RotatorOptions(["value-only": "true"])).contains { $0.contains("value-only") })
    }

    @Test func creatingOrManagingIsRefusedAndChangesNothingUnlessValueOnly() async throws {
        let store = InMemorySecretStore()
        let engine = RotationEngine(store: store, state: InMemoryStateStore(), rotators: .builtIn)
        let id = try SecretID("/prod/github-integration/api-token/personal-access-token")
        let github = SecretValue(string: #"{"token":"ghp_Abc123secretpart0000000000000000000"}"#)
        let refusal = await #expect(throws: RotorError.self) {
            try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["field": "token"]), initialValue: github)
        }
        #expect(refusal?.code == .invalidOption && refusal?.secret == id && refusal?.remedy?.contains("value-only=true") == true)
        #expect(refusal.map { !"\($0)".contains("secretpart") } == true)
        #expect(await store.listSecrets(in: .all).isEmpty)

        // Manual: the operator supplies a real token, so it is fine; value-only says the store is all.
        try await engine.createManagedSecret(id, rotator: "manual", options: RotatorOptions(["field": "token"]), initialValue: github)
        let other = try SecretID("/prod/github-integration/api-token/mirror")
        try await engine.createManagedSecret(other, rotator: "random-password", options: RotatorOptions(["field": "token", "value-only": "true"]),
                                             initialValue: github)
        await #expect(throws: RotorError.self) {
            try await engine.createManagedSecret(try SecretID("/prod/x/api-key/y"), rotator: "random-password", options: RotatorOptions(["value-only": "yes"]),
                                                 initialValue: SecretValue(string: "v"))
        }

        // An existing secret is refused the same way when rotor starts managing it.
        let database = try SecretID("/prod/orders/db-credentials/app")
        _ = try await store.createSecret(CreateSecretInput(id: database, initialValue: SecretValue(string: #"{"engine":"postgres","host":"h","password":"p"}"#)))
        await #expect(throws: RotorError.self) {
            try await engine.manageExistingSecret(database, rotator: "random-password", options: RotatorOptions(["field": "password"]))
        }
        #expect(try await engine.state.managedSecret(database) == nil)
    }
}
