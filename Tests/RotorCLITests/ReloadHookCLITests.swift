import Foundation
import RotorTestSupport
import Testing

/// Reload hooks end to end: `rotor rotate` runs the policy's hook at once (the notice on standard
/// input, no value anywhere), a failing hook is listed with its error and delivered by a later
/// `rotor reload-hooks run`, and every outcome is in the audit log.
@Suite struct ReloadHookCLITests {
    @Test func rotateRunsTheHookAndAFailureIsRetriedLater() async throws {
        let cli = try CLI()
        let id = "/prod/orders/api-key/vendor"
        let out = cli.home.appendingPathComponent("hook.out").path
        let counter = cli.home.appendingPathComponent("count").path
        let hook = cli.home.appendingPathComponent("reload-orders")
        try """
            #!/bin/sh
            cat >> \(out); echo " args:$* env:$(env | tr '\\n' ' ')" >> \(out)
            n=$(cat \(counter) 2>/dev/null || echo 0); echo $((n+1)) > \(counter)
            [ "$n" -ne 1 ]
            """.write(to: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook.path)
        let policies = try cli.policies("""
            policies:
              - name: orders
                match: [/prod/orders/api-key/*]
                rotator: random-password
                every: 30d
                reload:
                  - command: [\(hook.path), --graceful]
            """)
        #expect(try await cli.run(["secret", "create", id, "--rotator", "random-password"]).status == 0)
        #expect(try await cli.run(["rotate", id, "--policies", policies.path]).status == 0)
        let value = try await cli.run(["secret", "get", id]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var written = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written.contains("\"secretId\":\"\(id)\"") && written.contains("args:--graceful") && !written.contains(value) && !written.contains("HOME="))

        // The second rotation's hook fails once: it waits in the outbox with its error.
        #expect(try await cli.run(["rotate", id, "--policies", policies.path]).status == 0)
        let pending = try await cli.run(["reload-hooks", "pending", id])
        #expect(pending.stdout.contains("reload.command") && pending.stdout.contains("exited with status 1"), "\(pending.stdout)")
        try await Task.sleep(for: .milliseconds(5500))
        let run = try await cli.run(["reload-hooks", "run", "--policies", policies.path])
        #expect(run.status == 0 && run.stdout.contains("1 reload hook(s) delivered"), "\(run.stdout)\(run.stderr)")
        written = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written.components(separatedBy: "rotation.finished").count - 1 == 3)
        let audit = try await cli.run(["audit", id])
        #expect(audit.stdout.contains("reload.hook") && audit.stdout.contains("failed") && audit.stdout.contains("delivered"))
        #expect(!cli.everythingPrinted.contains(value))
    }
}
