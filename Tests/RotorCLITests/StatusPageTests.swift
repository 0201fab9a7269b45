import Foundation
import GRDB
import RotorTestSupport
import Testing

/// The daemon's status page in a real headless browser (Chromium through Selenium): the login form
/// and its cookie, the secrets table with filters, a secret's history, no script and no outside
/// asset, text from state escaped.
@Suite struct StatusPageTests {
    static let policies = """
        policies:
          - name: tokens
            match: [/prod/shop/api-key/*, /staging/shop/api-key/*]
            rotator: random-password
            every: 30d
          - name: vendor
            match: [/prod/vendor/api-key/*]
            rotator: manual
            every: 1h
        """

    @Test func aPersonSignsInFiltersAndReadsASecretsHistory() async throws {
        try await HeavyTests.oneAtATime {
            let cli = try CLI()
            let (prod, staging, vendor) = ("/prod/shop/api-key/k", "/staging/shop/api-key/s", "/prod/vendor/api-key/m")
            for id in [prod, staging] { #expect(try await cli.run("secret", "create", id, "--rotator", "random-password").status == 0) }
            #expect(try await cli.run(["secret", "create", vendor, "--rotator", "manual", "--value-stdin"], stdin: Data("CANARY-page-value".utf8)).status == 0)
            try cli.backdate(prod, days: 40)
            // Text from state that a page must show as text, never run.
            let queue = try DatabaseQueue(path: cli.home.appendingPathComponent("state.sqlite").path)
            try await queue.write { db in
                try db.execute(sql: "UPDATE managed_secret SET last_error = ? WHERE id = ?",
                               arguments: [#"<script>window.__pwned=true</script><img src=x onerror="window.__pwned=true">"#, staging])
            }
            try queue.close()
            let token = "page-token-\(UUID().uuidString)"
            let daemon = try DaemonProcess(home: cli.home, policies: try cli.policies(Self.policies), token: token)
            defer { daemon.signal(SIGTERM) }
            #expect(try await CLI.eventually(timeout: 90) {
                let item = try await daemon.json("/api/observability/secrets" + prod)
                return !(item["lastRotated"] is NSNull)
            })
            let port = try await daemon.port()
            let page = try await daemon.get("/")
            #expect(page.status == 200 && page.body.contains("<table id=\"secrets\">") && !page.body.contains("<script>"))
            #expect(try await daemon.get("/secrets/prod/none/api-key/x").status == 404)
            // A browser without the token or the cookie lands on the login form (the client follows the redirect).
            let refused = try await daemon.get("/", token: "wrong")
            #expect(refused.body.contains("<form method=\"post\" action=\"/login\">") && !refused.body.contains(prod))
            #expect(try await daemon.get("/api/observability/secrets", token: "wrong").status == 401)

            let run = try await cli.runProgram("/usr/bin/env", ["python3", IAMMoto.repository.appendingPathComponent("scripts/status-page-check.py").path,
                                                                "http://127.0.0.1:\(port)", prod, "staging"], extraEnvironment: ["ROTOR_API_TOKEN": token])
            #expect(run.status == 0, "\(run.stderr.suffix(2000))")
            let seen = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.output.suffix(2000))")
            #expect((seen["unauthenticated"] as? String)?.hasSuffix("/login") == true)
            #expect(seen["wrong_token_error"] as? Bool == true)
            #expect((seen["after_login"] as? String)?.hasSuffix(":\(port)/") == true)
            let rows = seen["rows"] as? [[String]] ?? []
            #expect(Set(rows.compactMap(\.first)) == [prod, staging, vendor], "\(rows)")
            #expect(rows.contains { $0.first == staging && $0.contains { $0.contains("<script>window.__pwned=true</script>") } }, "shown as text")
            #expect(rows.contains { $0.first == vendor && ($0.count > 2 && ["failed", "quarantined", "active", "rotating"].contains($0[2])) })
            #expect(seen["scripts_ran"] as? Bool == false)
            #expect(seen["cookie_visible_to_scripts"] as? String == "")
            let flags = seen["cookie_flags"] as? [String: Any] ?? [:]
            #expect(flags["httpOnly"] as? Bool == true && flags["secure"] as? Bool == true && flags["sameSite"] as? String == "Strict", "\(flags)")
            #expect((seen["old_cookie_after_logout"] as? [Any])?.first as? Int == 303)
            #expect((seen["external_resources"] as? [Any])?.isEmpty == true)
            #expect((seen["filtered_rows"] as? [[String]] ?? []).compactMap(\.first) == [staging])
            #expect(seen["detail_heading"] as? String == prod)
            #expect((seen["history"] as? [[String]] ?? []).contains { $0.contains("succeeded") })
            #expect((seen["after_logout"] as? String)?.hasSuffix("/login") == true)
            #expect(!(seen["urls"] as? [String] ?? []).contains { $0.contains(token) })
            #expect(!run.output.contains(token) && !run.output.contains("CANARY") && !daemon.output.contains(token))
            }
    }
}
