import Foundation
import Logging
import Synchronization
import Testing
import RotorCore
@testable import RotorDaemon
import RotorPlugins
import RotorPolicies
import RotorRotators
import RotorStorage
import RotorTestSupport

/// Reload hooks: their policy syntax, and the dispatcher that feeds the outbox from the audit log
/// and runs each hook at least once (retried with backoff, audited), never with a value.
@Suite struct ReloadHookTests {
    static let id = try! SecretID("/prod/orders/api-key/vendor")
    let loader = PolicyLoader(rotators: .builtIn)

    func policy(_ reload: String) -> String {
        """
        policies:
          - name: orders
            match: [/prod/orders/api-key/*]
            rotator: random-password
            every: 30d
            reload:
        \(reload)
        """
    }

    @Test func theThreeKindsParse() {
        let (policies, errors) = loader.parse(policy("""
                  - command: [/usr/local/bin/reload-orders, --graceful]
                  - signal: sighup
                    pid_file: /run/orders.pid
                  - webhook: https://orders.internal/rotated
                    signing_key_secret: /prod/orders/webhook-key/reload
            """), file: "p.yaml")
        #expect(errors.isEmpty, "\(errors)")
        #expect(policies.first?.reload == [
            .command(["/usr/local/bin/reload-orders", "--graceful"]), .signal("HUP", pidFile: "/run/orders.pid"),
            .webhook(url: "https://orders.internal/rotated", signingKeySecret: try! SecretID("/prod/orders/webhook-key/reload")),
        ])
    }

    @Test(arguments: [
        ("      - command: reload-orders", "absolute path"),
        ("      - signal: KILL\n        pid_file: /run/x.pid", "'signal' must be one of"),
        ("      - signal: HUP", "needs 'pid_file'"),
        ("      - webhook: http://orders.internal/rotated\n        signing_key_secret: /prod/orders/webhook-key/reload", "loopback"),
        ("      - webhook: https://orders.internal/rotated", "needs 'signing_key_secret'"),
        ("      - command: [/bin/true]\n        signal: HUP", "exactly one of"),
        ("      - script: /bin/true", "unknown key 'script'"),
    ])
    func badHooksAreNamed(hook: String, message: String) {
        let (_, errors) = loader.parse(policy(hook), file: "p.yaml")
        #expect(errors.contains { $0.description.contains(message) }, "\(errors)")
    }

    /// A rotated secret, its state database and a dispatcher over them.
    struct Harness {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-reload-\(UUID().uuidString)")
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let store: InMemorySecretStore
        let state: SQLiteStateStore
        let engine: RotationEngine

        init() async throws {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            store = InMemorySecretStore(clock: clock)
            state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: .normal)
            engine = RotationEngine(store: store, state: state, rotators: .builtIn, clock: clock, configuration: EngineConfiguration(actor: "test"),
                                    logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            _ = try await engine.createManagedSecret(ReloadHookTests.id, rotator: "random-password", options: RotatorOptions(), initialValue: SecretValue(string: "CANARY-reload-initial"))
        }

        func dispatcher(_ hooks: [ReloadHook]) -> ReloadHookDispatcher {
            let policy = RotationPolicy(name: "orders", matchers: [try! SecretMatcher("/prod/orders/api-key/*")], rotator: "random-password",
                                        schedule: nil, reload: hooks)
            return ReloadHookDispatcher(outbox: state, state: state, store: store, policies: { [policy] }, clock: clock,
                                        logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        }

        func script(_ name: String, _ body: String) throws -> String {
            let file = directory.appendingPathComponent(name)
            try "#!/bin/sh\n\(body)\n".write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
            return file.path
        }

        func audit() async throws -> [AuditEvent] { try await state.auditEvents(of: ReloadHookTests.id, limit: 100).filter { $0.operation == "reload.hook" } }
    }

    @Test func aCommandGetsTheNoticeOnStandardInputAndNothingElse() async throws {
        let harness = try await Harness()
        let out = harness.directory.appendingPathComponent("hook.out").path
        let hook = try harness.script("hook", "cat > \(out); echo \"args:$*\" >> \(out); env >> \(out)")
        let dispatcher = harness.dispatcher([.command([hook, "--graceful"])])
        let report = try await harness.engine.rotate(Self.id)
        #expect(try await dispatcher.pass() == 1)
        let written = try String(contentsOfFile: out, encoding: .utf8)
        let value = try await harness.store.getSecretValue(Self.id, .current).value.exposedString!
        #expect(written.contains("\"secretId\":\"/prod/orders/api-key/vendor\"") && written.contains("\"versionId\":\"\(report.token)\""))
        #expect(written.contains("args:--graceful") && written.contains("PATH=") && !written.contains("HOME="))
        #expect(!written.contains(value))
        #expect(try await dispatcher.pass() == 0) // delivered once
        #expect(try await harness.audit().map(\.outcome) == ["delivered"])
    }

    @Test func aFailingHookIsRetriedWithBackoffAndAudited() async throws {
        let harness = try await Harness()
        let counter = harness.directory.appendingPathComponent("count").path
        let hook = try harness.script("flaky", "n=$(cat \(counter) 2>/dev/null || echo 0); echo $((n+1)) > \(counter); [ $n -ge 1 ]")
        let dispatcher = harness.dispatcher([.command([hook])])
        _ = try await harness.engine.rotate(Self.id)
        #expect(try await dispatcher.pass() == 0)
        #expect(try await dispatcher.pass() == 0) // not due yet
        #expect(try await harness.state.pendingOutbox(channel: "reload", secret: Self.id).first?.lastError?.contains("exited with status 1") == true)
        harness.clock.advance(by: 6)
        #expect(try await dispatcher.pass() == 1)
        let audit = try await harness.audit()
        #expect(audit.map(\.outcome) == ["failed", "delivered"] || audit.map(\.outcome) == ["delivered", "failed"])
        #expect(audit.contains { $0.detail?.contains("attempt 1; next in 5 s") == true })
    }

    @Test func aSignalGoesToTheProcessInThePidFileAndARollbackFiresTheHooksToo() async throws {
        let harness = try await Harness()
        let marker = harness.directory.appendingPathComponent("hup").path
        let child = ChildProcess()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "trap 'echo hup >> \(marker)' HUP; while :; do sleep 0.05; done"]
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL) }
        let pidFile = harness.directory.appendingPathComponent("app.pid").path
        try "\(child.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(200)) // the trap is set
        let dispatcher = harness.dispatcher([.signal("HUP", pidFile: pidFile)])
        _ = try await harness.engine.rotate(Self.id)
        _ = try await harness.engine.rollbackToPrevious(Self.id)
        #expect(try await dispatcher.pass() == 2)
        // Two HUPs sent back to back may reach the shell as one (signals do not queue).
        var lines = 0
        for _ in 0..<50 where lines < 1 {
            lines = ((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "").split(separator: "\n").count
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(lines >= 1)
        #expect(try await harness.audit().map(\.outcome) == ["delivered", "delivered"])
    }

    @Test func aWebhookIsSignedWithTheKeySecretAndNeedsA2xx() async throws {
        let harness = try await Harness()
        let key = try SecretID("/prod/orders/webhook-key/reload")
        _ = try await harness.store.createSecret(CreateSecretInput(id: key, initialValue: SecretValue(string: "whsec_" + Data(repeating: 7, count: 32).base64EncodedString())))
        let received = ReceivedRequests()
        let server = try await LoopbackHTTPServer { request in
            received.append(request)
            return .respond(status: received.count == 1 ? 503 : 204, headers: [], body: [])
        }
        let dispatcher = harness.dispatcher([.webhook(url: "http://127.0.0.1:\(server.port)/rotated", signingKeySecret: key)])
        _ = try await harness.engine.rotate(Self.id)
        #expect(try await dispatcher.pass() == 0)
        harness.clock.advance(by: 6)
        #expect(try await dispatcher.pass() == 1)
        let last = try #require(received.all.last)
        #expect(received.count == 2 && received.all[0].head.headers.first(name: "webhook-id") == last.head.headers.first(name: "webhook-id"))
        let signature = WebhookSignature(secret: Array(("whsec_" + Data(repeating: 7, count: 32).base64EncodedString()).utf8))
        let headers = last.head.headers
        #expect(signature.verify(id: headers.first(name: "webhook-id") ?? "", timestamp: Int(headers.first(name: "webhook-timestamp") ?? "") ?? 0,
                                 body: last.body, header: headers.first(name: "webhook-signature") ?? ""))
        #expect(String(decoding: last.body, as: UTF8.self).contains("\"type\":\"rotation.finished\""))
        try await server.close()
    }

    @Test func aSecretWithoutHooksOrAPolicyQueuesNothingAndTheCursorMovesOn() async throws {
        let harness = try await Harness()
        let dispatcher = harness.dispatcher([])
        _ = try await harness.engine.rotate(Self.id)
        #expect(try await dispatcher.pass() == 0)
        #expect(try await harness.state.currentVersionChanges(after: try await harness.state.outboxCursor("reload-hooks"), limit: 10).isEmpty)
    }
}

extension ReloadHookTests {
    /// A daemon and a CLI pass (or two daemons) feeding and delivering the same change: one record,
    /// one run; a record keeps the hook it was queued with when the policy changes afterwards.
    @Test func twoFeedersQueueAChangeOnceAndAClaimedRecordRunsOnce() async throws {
        let harness = try await Harness()
        let out = harness.directory.appendingPathComponent("runs").path
        let hook = try harness.script("count", "cat >/dev/null; echo run >> \(out)")
        let daemon = harness.dispatcher([.command([hook])])
        let cli = harness.dispatcher([.command([hook])])
        _ = try await harness.engine.rotate(Self.id)
        try await cli.feed(only: [Self.id])
        try await daemon.feed(only: nil)
        try await daemon.feed(only: nil)
        #expect(try await harness.state.pendingOutbox(channel: "reload", secret: Self.id).count == 1)
        async let first = daemon.deliverDue(only: nil)
        async let second = cli.deliverDue(only: [Self.id])
        #expect(try await first + second == 1)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "run\n")
    }

    @Test func aQueuedRecordRunsTheHookItWasQueuedWith() async throws {
        let harness = try await Harness()
        let out = harness.directory.appendingPathComponent("which").path
        let before = try harness.script("before", "cat >/dev/null; echo before >> \(out)")
        let after = try harness.script("after", "cat >/dev/null; echo after >> \(out)")
        _ = try await harness.engine.rotate(Self.id)
        try await harness.dispatcher([.command([before])]).feed(only: nil)
        #expect(try await harness.dispatcher([.command([after])]).pass() == 1)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "before\n")
    }
}

final class ReceivedRequests: Sendable {
    private let requests = Mutex<[LoopbackHTTPServer.Request]>([])
    func append(_ request: LoopbackHTTPServer.Request) { requests.withLock { $0.append(request) } }
    var count: Int { requests.withLock { $0.count } }
    var all: [LoopbackHTTPServer.Request] { requests.withLock { $0 } }
}
