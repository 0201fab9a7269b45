import Testing
import RotorCore

@Suite struct SecretIDTests {
    @Test(arguments: [
        "/prod/github-integration/api-token/personal-access-token",
        "/prod/claude-sdk/api-key/anthropic-key",
        "/prod/cognito/app-client/secret",
        "/staging/template-management/encryption-key/template-key",
        "/dev-2/svc_a/type.b/name+c=d@e",
    ])
    func validIDsParse(raw: String) throws {
        let id = try SecretID(raw)
        #expect(id.rawValue == raw)
    }

    @Test(arguments: [
        ("prod/a/b/c", "must start with '/'"),
        ("/prod/a/b", "has 3 part(s); expected 4"),
        ("/prod/a/b/c/d", "has 5 part(s); expected 4"),
        ("/Prod/a/b/c", "invalid environment 'Prod'"),
        ("/9prod/a/b/c", "invalid environment '9prod'"),
        ("//a/b/c", "invalid environment ''"),
        ("/prod//b/c", "invalid service '': it is empty"),
        ("/prod/a/b c/d", "invalid secret-type 'b c'"),
        ("/prod/a/b/", "invalid secret-name '': it is empty"),
        ("/prod/a/b/ñ", "invalid secret-name"),
    ])
    func invalidIDsNameTheWrongPart(raw: String, message: String) {
        #expect { try SecretID(raw) } throws: { error in
            let error = error as? RotorError
            return error?.code == .invalidSecretID && error?.summary.contains(message) == true && error?.remedy != nil
        }
    }

    @Test func overlongIDIsRejected() {
        #expect(throws: RotorError.self) { try SecretID("/prod/a/b/" + String(repeating: "x", count: 600)) }
    }

    @Test func scopeKeepsEnvironmentsApart() throws {
        let prod = try SecretID("/prod/a/b/c")
        let staging = try SecretID("/staging/a/b/c")
        let scope = EnvironmentScope.only(try Environment("prod"))
        #expect(scope.contains(prod) && !scope.contains(staging))
        #expect(throws: Never.self) { try scope.check(prod) }
        #expect { try scope.check(staging) } throws: { ($0 as? RotorError)?.code == .environmentMismatch }
        #expect(EnvironmentScope.all.contains(staging))
    }
}

@Suite struct SecretValueTests {
    static let canary = "CANARY-value-4711"

    @Test func valuesRedactThemselvesEverywhere() {
        for value in [SecretValue(string: Self.canary), SecretValue(bytes: Array(Self.canary.utf8))] {
            var dumped = ""
            dump(value, to: &dumped)
            let renderings = ["\(value)", String(describing: value), String(reflecting: value), dumped, "\([value])", "\(Optional(value) as Any)"]
            for rendering in renderings {
                #expect(!rendering.contains(Self.canary))
                #expect(rendering.contains(SecretValue.redacted))
            }
        }
    }

    @Test func constantTimeEqualityComparesKindAndBytes() {
        #expect(SecretValue(string: "a").constantTimeEquals(SecretValue(string: "a")))
        #expect(!SecretValue(string: "a").constantTimeEquals(SecretValue(string: "b")))
        #expect(!SecretValue(string: "a").constantTimeEquals(SecretValue(bytes: [0x61])))
        #expect(!SecretValue(string: "a").constantTimeEquals(SecretValue(string: "aa")))
    }
}
