import Testing
import RotorCore

/// Which variables are credentials, the ids they get, and dotenv parsing that never shows a value.
@Suite struct EnvironmentImportTests {
    @Test(arguments: [
        ("GITHUB_TOKEN", "api-token"), ("ANTHROPIC_API_KEY", "api-key"), ("DATABASE_URL", "database"), ("DB_PASSWORD", "database"),
        ("COGNITO_CLIENT_SECRET", "app-client"), ("TEMPLATE_ENCRYPTION_KEY", "encryption-key"), ("SMTP_PASSWORD", "credential"),
        ("AWS_ACCESS_KEY", "api-key"), ("LOG_LEVEL", nil), ("PORT", nil), ("TOKENIZER_MODEL", nil), ("KEYBOARD", nil), ("PASSPORT_URL", nil),
    ] as [(String, String?)])
    func namesMarkCredentials(variable: String, type: String?) {
        #expect(EnvironmentImport.type(of: variable) == type)
    }

    @Test func proposalsFollowTheNamingConvention() throws {
        let proposals = try EnvironmentImport.propose(
            ["GITHUB_TOKEN": SecretValue(string: "ghp_x"), "LOG_LEVEL": SecretValue(string: "info")], environment: try Environment("prod"), service: "orders")
        #expect(proposals.map(\.secret) == [try SecretID("/prod/orders/api-token/github-token"), nil])
        #expect(throws: RotorError.self) { try EnvironmentImport.propose([:], environment: try Environment("prod"), service: "Bad Service") }
        let clash = #expect(throws: RotorError.self) {
            try EnvironmentImport.propose(["DB_PASSWORD": SecretValue(string: "a"), "db_password": SecretValue(string: "b")],
                                          environment: try Environment("prod"), service: "orders")
        }
        #expect(clash?.summary.contains("DB_PASSWORD and db_password would both become") == true)
    }

    @Test func dotenvFilesParse() throws {
        let variables = try EnvironmentImport.parseDotenv("""
            # comment
            export API_KEY=plain-value # trailing comment
            DB_PASSWORD="with \\"quotes\\" and\\nnewline \\q"
            SINGLE='it # is' # comment
            HASH=a#b

            EMPTY=
            """, file: ".env")
        #expect(variables["API_KEY"]?.exposedString == "plain-value")
        #expect(variables["DB_PASSWORD"]?.exposedString == "with \"quotes\" and\nnewline \\q")
        #expect(variables["SINGLE"]?.exposedString == "it # is")
        #expect(variables["HASH"]?.exposedString == "a#b")
        let crlf = try EnvironmentImport.parseDotenv("A=1\r\nB=2\r\n", file: ".env")
        #expect(crlf["A"]?.exposedString == "1" && crlf["B"]?.exposedString == "2")
        #expect(variables["EMPTY"]?.exposedString == "")
    }

    @Test(arguments: [
        ("NO_EQUALS_CANARY-SECRET", ".env:1: expected NAME=value"),
        ("1BAD=CANARY-SECRET", ".env:1: the name must be"),
        ("A=\"CANARY-SECRET", ".env:1: the quoted value is not closed"),
        ("A=1\nA=CANARY-SECRET", ".env:2: A is set twice"),
        ("A='CANARY-SECRET'x", ".env:1: text after the closing quote"),
    ])
    func badLinesAreNamedWithoutTheirText(text: String, message: String) {
        let error = #expect(throws: RotorError.self) { try EnvironmentImport.parseDotenv(text, file: ".env") }
        #expect(error?.summary.hasPrefix(message) == true, "\(error?.summary ?? "")")
        #expect(error.map { "\($0)" }?.contains("CANARY") == false)
    }
}
