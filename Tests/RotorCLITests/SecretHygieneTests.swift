import Foundation
import Testing

/// A canary value goes through create, several rotations, a failed rotation, a rollback and every
/// read-only command; it must never appear in clear in any output (but `secret get`'s), any log
/// line, the state database or the store file's bytes.
@Suite struct SecretHygieneTests {
    static let marker = "CANARY-\(UUID().uuidString.prefix(8))"

    func canary(_ index: Int) -> String { "sk-ant-\(Self.marker)-\(index)" }

    @Test func canaryNeverAppearsOutsideSecretGet() async throws {
        let cli = try CLI()
        let manual = "/prod/claude-sdk/api-key/anthropic-key"
        let json = "/prod/github-integration/api-token/personal-access-token"
        let key = "/prod/template-management/encryption-key/template-key"

        #expect(try await cli.run("secret", "create", manual, "--rotator", "manual", "--option", "pattern=sk-ant-.+", "--value-stdin", stdin: canary(0)).status == 0)
        for index in 1...3 {
            #expect(try await cli.run("rotate", manual, "--value-stdin", stdin: canary(index)).status == 0)
        }
        // A value that fails the pattern test: rolled back, exit 4.
        let failed = try await cli.run("rotate", manual, "--value-stdin", stdin: "wrong-\(Self.marker)-format")
        #expect(failed.status == 4)
        #expect(try await cli.run("rollback", manual).status == 0)
        #expect(try await cli.run("secret", "get", manual).stdout == canary(2) + "\n")
        #expect(try await cli.run("secret", "get", manual, "--stage", "AWSPREVIOUS").stdout == canary(3) + "\n")

        let initial = #"{"token":"tok_\#(Self.marker)","username":"\#(Self.marker)-user"}"#
        #expect(try await cli.run("secret", "create", json, "--rotator", "random-password", "--option", "field=token", "--value-stdin", stdin: initial).status == 0)
        #expect(try await cli.run("rotate", json).status == 0)
        #expect(try await cli.run("rotate", json, "--json").status == 0)
        #expect(try await cli.run("secret", "create", key, "--rotator", "encryption-key").status == 0)
        #expect(try await cli.run("rotate", key).status == 0)

        let perSecret = [manual, json, key].flatMap { id in
            [["secret", "describe", id], ["secret", "describe", id, "--json"], ["history", id], ["history", id, "--json"]]
        }
        let global = [["status"], ["status", "--json"], ["secret", "list"], ["secret", "list", "--json"], ["audit"], ["audit", "--json"]]
        for arguments in global + perSecret {
            #expect(try await cli.run(arguments).status == 0, "\(arguments)")
        }

        let printed = cli.everythingPrinted
        #expect(printed.contains("trace") || printed.contains("debug") || printed.contains("info"), "logs were captured")
        #expect(!printed.contains(Self.marker))
        for (name, bytes) in try cli.allFileBytes() {
            #expect(bytes.range(of: Data(Self.marker.utf8)) == nil, "canary in clear in \(name)")
            #expect(bytes.range(of: Data(Data(Self.marker.utf8).base64EncodedString().utf8)) == nil, "canary as base64 in \(name)")
        }
    }
}
