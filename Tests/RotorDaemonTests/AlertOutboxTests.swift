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
}
