import Foundation
import Logging
import Synchronization
import Testing
import RotorCore
@testable import RotorDaemon
import RotorStorage
import RotorTestSupport

/// Alerts go through the SQLite outbox: a webhook that is down gets them later, even after a restart.
@Suite struct AlertOutboxTests {
    @Test func alertsSurviveAFailingWebhookAndARestart() async throws {
        let harness = try SchedulerHarness(start: Date(timeIntervalSince1970: 1_800_000_000))
        let up = Mutex(false)
        let received = Mutex<[String]>([])
        let webhook = try await LoopbackHTTPServer { request in
            guard up.withLock({ $0 }) else { return .respond(status: 503, headers: [], body: []) }
            received.withLock { $0.append(String(decoding: request.body, as: UTF8.self)) }
            return .respond(status: 200, headers: [], body: [])
        }
        defer { Task { try? await webhook.close() } }
        let quiet = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        let alerts = AlertCenter(outbox: harness.state, clock: harness.clock, logger: quiet)
        let id = try SecretID("/prod/a/api-key/b")
        await alerts.raise(.quarantined, secret: id, "secret quarantined after 3 failed runs", details: ["failedRuns": "3"])

        let first = AlertDispatcher(outbox: harness.state, webhooks: [webhook.url], clock: harness.clock, logger: quiet)
        #expect(try await first.deliverDue() == 0)
        #expect(try await harness.state.pendingAlertCount() == 1)
        // Not due again before its backoff.
        #expect(try await first.deliverDue() == 0 && received.withLock { $0 }.isEmpty)

        // "Restart": a new store object and dispatcher on the same file, the webhook back up, later.
        up.withLock { $0 = true }
        harness.clock.set(harness.clock.now().addingTimeInterval(60))
        let reopened = try SQLiteStateStore(url: harness.directory.appendingPathComponent("state.sqlite"))
        let second = AlertDispatcher(outbox: reopened, webhooks: [webhook.url], clock: harness.clock, logger: quiet)
        #expect(try await second.deliverDue() == 1)
        #expect(try await reopened.pendingAlertCount() == 0)
        let payload = try #require(received.withLock { $0 }.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
        #expect(object["kind"] as? String == "secret.quarantined" && object["secret"] as? String == id.rawValue)
        #expect(try await second.deliverDue() == 0)
    }

    /// A sink that refuses while `down`, and records what it accepted.
    final class FlakySink: AlertSink, Sendable {
        let channel = "alert.test"
        let down = Mutex(true)
        let accepted = Mutex<[String]>([])
        func deliver(_ alert: AlertRecord) async throws {
            if down.withLock({ $0 }) { throw RotorError(.transient, "sink down", isTransient: true) }
            let object = try JSONSerialization.jsonObject(with: Data(alert.payload.utf8)) as? [String: Any]
            accepted.withLock { $0.append("\(object?["secret"] ?? "-") \(object?["message"] ?? "")") }
        }
    }

    /// Each sink has its own channel; a secret's later alert waits while an earlier one is undelivered,
    /// another secret's does not; after the sink recovers, all arrive once, in order per secret.
    @Test func alertSinksDeliverInOrderPerSecretAtLeastOnce() async throws {
        let harness = try SchedulerHarness(start: Date(timeIntervalSince1970: 1_800_000_000))
        let quiet = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        let sink = FlakySink()
        let alerts = AlertCenter(outbox: harness.state, clock: harness.clock, logger: quiet, channels: [sink.channel])
        let (a, b) = (try SecretID("/prod/a/api-key/x"), try SecretID("/prod/b/api-key/y"))
        await alerts.raise(.rotationFailed, secret: a, "first")
        let dispatcher = AlertSinkDispatcher(outbox: harness.state, sinks: [sink], clock: harness.clock, logger: quiet)
        #expect(try await dispatcher.deliverDue() == 0)
        sink.down.withLock { $0 = false }
        await alerts.raise(.rotationFailed, secret: a, "second")
        await alerts.raise(.quarantined, secret: b, "other")
        // a's "first" backs off; a's "second" must wait for it; b's goes.
        #expect(try await dispatcher.deliverDue() == 1)
        #expect(sink.accepted.withLock { $0 } == ["/prod/b/api-key/y other"])
        harness.clock.set(harness.clock.now().addingTimeInterval(60))
        // Due again: the first, then the second it held back, in one pass.
        #expect(try await dispatcher.deliverDue() == 2)
        #expect(try await dispatcher.deliverDue() == 0)
        #expect(sink.accepted.withLock { $0 } == ["/prod/b/api-key/y other", "/prod/a/api-key/x first", "/prod/a/api-key/x second"])
        // The webhooks' channel still holds every alert for them.
        #expect(try await harness.state.pendingAlertCount() == 3)
    }

    /// rotor's own Secrets Manager calls refused with access denied count as denied reads: over the
    /// threshold in the window, one suspicious-access alert; events older than the window do not count.
    @Test func deniedStoreCallsFeedTheSuspiciousAccessRules() async throws {
        let harness = try SchedulerHarness(start: Date(timeIntervalSince1970: 1_800_000_000))
        let quiet = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        let alerts = AlertCenter(outbox: harness.state, clock: harness.clock, logger: quiet)
        let monitor = AccessMonitor(store: harness.state, rules: AccessRules(deniedThreshold: 2, window: 600), alerts: alerts, clock: harness.clock) { [] }
        let feed = DeniedCallFeed(store: harness.state, monitor: monitor, clock: harness.clock, logger: quiet)
        let id = try SecretID("/prod/shop/api-key/k")
        let now = harness.clock.now()
        for age in [3600.0, 30, 20, 10] {
            try await harness.state.appendAudit(AuditEvent(at: now.addingTimeInterval(-age), actor: "daemon", secret: id, operation: "aws.GetSecretValue",
                                                           outcome: "access-denied", detail: "Secrets Manager GetSecretValue failed: AccessDeniedException"))
        }
        #expect(try await feed.pass() == 3)
        let pending = try await harness.state.dueAlerts(at: now, limit: 10)
        #expect(pending.map(\.kind) == ["access.suspicious"] && pending.first?.payload.contains("denied-reads") == true)
        #expect(try await feed.pass() == 0)
    }
}

/// Report tokens: a file of readers and token hashes, refused line by line when malformed.
@Suite struct ReportTokenTests {
    @Test func parsesReadersAndRefusesBadLines() throws {
        let hash = String(repeating: "ab", count: 32)
        let tokens = try ReportTokens.parse("# agents\nshop@prod \(hash)  # web hosts\n\n")
        #expect(tokens.readers[hash] == "shop@prod")
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        for bad in ["shop \(hash)", "shop@prod", "shop@prod xyz", "Shop@Prod \(hash)", "shop@prod \(hash) extra", "shop@prod \(empty)",
                    "shop@prod \(hash)\nweb@prod \(hash)"] {
            #expect(throws: RotorError.self, "\(bad)") { try ReportTokens.parse(bad) }
        }
    }

    /// Counts and times out of range refuse the whole report (no overflow, nothing recorded).
    @Test func reportsOutOfRangeAreRefused() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let body = { (reads: String, denied: String, first: Double) in
            Data(#"{"reader":{"service":"shop","environment":"prod"},"reads":[{"secret":"/prod/shop/api-key/k","reads":\#(reads),"denied":\#(denied),"first":\#(first),"last":\#(now.timeIntervalSince1970)}]}"#.utf8)
        }
        #expect(throws: RotorError.self) { try ObservabilityAPI.accessReports(body("9223372036854775807", "1", now.timeIntervalSince1970), now: now) }
        #expect(throws: RotorError.self) { try ObservabilityAPI.accessReports(body("-1", "1", now.timeIntervalSince1970), now: now) }
        #expect(throws: RotorError.self) { try ObservabilityAPI.accessReports(body("1", "0", 0), now: now) }
        #expect((try? ObservabilityAPI.accessReports(body("3", "0", now.timeIntervalSince1970 - 60), now: now))?.first?.reads == 3)
    }
}

/// The status page's sign-in limit: ten failing attempts a minute, parallel ones included; a
/// successful attempt gives its slot back.
@Suite struct FailureLimiterTests {
    @Test func attemptsTakeSlotsFirstAndSuccessesGiveThemBack() {
        let throttle = ObservabilityAPI.FailureLimiter()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let taken = (0..<10).compactMap { _ in throttle.take(at: t0) }
        #expect(taken.count == 10 && throttle.take(at: t0) == nil)
        throttle.release(taken[0])
        #expect(throttle.take(at: t0) != nil && throttle.take(at: t0) == nil)
        #expect(throttle.take(at: t0.addingTimeInterval(61)) != nil)
    }
}
