import Foundation
import Logging
import RotorCore
import ServiceLifecycle

/// Ships the audit log to its sinks (CloudWatch Logs), in order and at least once: each sink has a
/// cursor in the state database, moved past a batch only after the sink accepted all of it, so a
/// restart resumes where shipping stopped and a failure is retried, with backoff, from the same
/// event. The audit table stays the source of truth.
public struct AuditShipper: Service {
    static let batchSize = 1000
    static let backoff = Backoff(initial: .seconds(5), maximum: .seconds(300), jitter: .none)

    let store: any SchedulingStore
    let sinks: [any AuditLogSink]
    let clock: any RotorClock
    let logger: Logger
    let pollInterval: Duration

    public init(store: any SchedulingStore, sinks: [any AuditLogSink], clock: any RotorClock, logger: Logger, pollInterval: Duration = .seconds(5)) {
        self.store = store
        self.sinks = sinks
        self.clock = clock
        self.logger = logger
        self.pollInterval = pollInterval
    }

    static func cursor(_ sink: any AuditLogSink) -> String { "audit:\(sink.name)" }

    public func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully {
            do {
                try await shipAll()
                failures = 0
            } catch {
                failures += 1
                logger.warning("audit shipping failed; retrying from the same event", metadata: ["error": "\(error)", "failures": "\(failures)"])
            }
            let wait = failures == 0 ? pollInterval : Self.backoff.delay(afterAttempt: failures, unit: 0)
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: wait) }
        }
        _ = try? await shipAll()
    }

    /// Ships everything past each sink's cursor; returns how many events went out.
    @discardableResult
    public func shipAll() async throws -> Int {
        var shipped = 0
        var failure: (any Error)?
        for sink in sinks {
            do { shipped += try await ship(to: sink) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return shipped
    }

    func ship(to sink: any AuditLogSink) async throws -> Int {
        var shipped = 0
        while true {
            let from = try await store.outboxCursor(Self.cursor(sink))
            let events = try await store.auditEvents(after: from, limit: Self.batchSize)
            guard let last = events.last?.position else { return shipped }
            try await sink.ship(events)
            // Another process that shipped the same events first moved the cursor: continue from there.
            _ = try await store.moveCursor(Self.cursor(sink), from: from, to: last)
            shipped += events.count
        }
    }
}
