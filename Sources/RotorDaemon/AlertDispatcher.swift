import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RotorCore
import ServiceLifecycle

/// Delivers outbox alerts as JSON `POST`s to every configured webhook, retrying failed deliveries
/// with capped exponential backoff. An alert is marked delivered only when every webhook accepted it (2xx).
public struct AlertDispatcher: Service {
    /// 5 s, doubling, at most an hour between delivery attempts of one alert.
    static let retryBackoff = Backoff(initial: .seconds(5), maximum: .seconds(3600), jitter: .none)
    let outbox: any SchedulingStore
    let webhooks: [URL]
    let clock: any RotorClock
    let http: HTTPClient
    let logger: Logger
    let pollInterval: Duration

    public init(outbox: any SchedulingStore, webhooks: [URL], clock: any RotorClock, http: HTTPClient = .shared, logger: Logger, pollInterval: Duration = .seconds(2)) {
        self.outbox = outbox
        self.webhooks = webhooks
        self.clock = clock
        self.http = http
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            if !webhooks.isEmpty { _ = try? await deliverDue() }
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: pollInterval) }
        }
    }

    /// Delivers every due alert once; returns how many were delivered.
    @discardableResult
    public func deliverDue() async throws -> Int {
        var delivered = 0
        for alert in try await outbox.dueAlerts(at: clock.now(), limit: 100) {
            if let failure = await send(alert) {
                let delay = Self.retryBackoff.delay(afterAttempt: alert.attempts + 1, unit: 0).seconds
                try await outbox.markAlertFailed(alert.id, error: failure, nextAttemptAt: clock.now().addingTimeInterval(delay))
                logger.notice("alert delivery failed; will retry", metadata: ["alert": "\(alert.id)", "error": "\(failure)", "retry-in-s": "\(Int(delay))"])
            } else {
                try await outbox.markAlertDelivered(alert.id, at: clock.now())
                delivered += 1
            }
        }
        return delivered
    }

    /// `nil` on success, else why it failed.
    func send(_ alert: AlertRecord) async -> String? {
        for webhook in webhooks {
            var request = HTTPClientRequest(url: webhook.absoluteString)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Rotor-Alert-Id", value: "\(alert.id)")
            request.body = .bytes(ByteBuffer(string: alert.payload))
            do {
                let response = try await http.execute(request, timeout: .seconds(10))
                guard (200..<300).contains(response.status.code) else { return "\(webhook.host ?? "webhook") answered HTTP \(response.status.code)" }
            } catch {
                return "\(webhook.host ?? "webhook") unreachable (\(type(of: error)))"
            }
        }
        return nil
    }
}
