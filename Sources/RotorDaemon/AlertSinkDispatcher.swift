import Foundation
import Logging
import RotorCore
import ServiceLifecycle

/// Delivers alerts to EventBridge, SNS and other ``AlertSink``s, each from its own outbox channel:
/// at least once (a record is marked delivered only after its sink accepted it), in order per secret
/// (a secret's later alert waits while an earlier one is undelivered), deduplicated downstream by the
/// alert's `id`. Failures are retried with backoff, 5 s doubling to an hour, for about a day; an alert
/// the sink refuses for good is set aside at once (logged as an error).
public struct AlertSinkDispatcher: Service {
    static let backoff = Backoff(initial: .seconds(5), maximum: .seconds(3600), jitter: .none)
    /// About a day of attempts at the backoff's cap.
    static let maximumAttempts = 30

    let outbox: any SchedulingStore
    let sinks: [any AlertSink]
    let clock: any RotorClock
    let logger: Logger
    let pollInterval: Duration

    public init(outbox: any SchedulingStore, sinks: [any AlertSink], clock: any RotorClock, logger: Logger, pollInterval: Duration = .seconds(2)) {
        self.outbox = outbox
        self.sinks = sinks
        self.clock = clock
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            _ = try? await deliverDue()
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: pollInterval) }
        }
    }

    /// Delivers every due record of every sink once; returns how many were delivered.
    @discardableResult
    public func deliverDue() async throws -> Int {
        var delivered = 0
        for sink in sinks { delivered += try await deliverDue(sink) }
        return delivered
    }

    func deliverDue(_ sink: any AlertSink) async throws -> Int {
        var delivered = 0
        var held: Set<SecretID> = []
        for record in try await outbox.dueOutbox(channel: sink.channel, at: clock.now(), limit: 100) {
            if let secret = record.secret {
                if held.contains(secret) { continue }
                let earlier = try await outbox.pendingOutbox(channel: sink.channel, secret: secret).contains { $0.record.id < record.id }
                if earlier {
                    held.insert(secret)
                    continue
                }
            }
            guard try await outbox.claimOutbox(record.id, at: clock.now(), until: clock.now().addingTimeInterval(120)) else { continue }
            do {
                try await sink.deliver(record)
                try await outbox.markAlertDelivered(record.id, at: clock.now())
                delivered += 1
            } catch {
                let reason = (error as? RotorError)?.summary ?? "\(type(of: error))"
                // Refused for good (too large, invalid) or for a day: set aside, so the secret's later alerts are not held forever.
                if (error as? RotorError)?.isTransient == false || record.attempts + 1 >= Self.maximumAttempts {
                    try await outbox.markAlertDelivered(record.id, at: clock.now())
                    logger.error("alert abandoned for this sink", metadata: ["sink": "\(sink.channel)", "alert": "\(record.id)", "attempts": "\(record.attempts + 1)", "error": "\(reason)"])
                    continue
                }
                let delay = Self.backoff.delay(afterAttempt: record.attempts + 1, unit: 0).seconds
                try await outbox.markAlertFailed(record.id, error: reason, nextAttemptAt: clock.now().addingTimeInterval(delay))
                if let secret = record.secret { held.insert(secret) }
                logger.notice("alert delivery failed; will retry", metadata: ["sink": "\(sink.channel)", "alert": "\(record.id)", "error": "\(reason)"])
            }
        }
        return delivered
    }
}
