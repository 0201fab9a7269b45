import Foundation
import Logging
import RotorCore
import ServiceLifecycle

/// Feeds the suspicious-access rules from Secrets Manager's own answers: every store call rotor
/// made that was refused with access denied (audited as `aws.* access-denied`, by the daemon or a
/// CLI on this state) counts as a denied read by `rotor@ENVIRONMENT`, so too many in the window
/// raise the denied-reads alert as agents' reports do. It follows the audit log with a cursor.
public struct DeniedCallFeed: Service {
    static let cursor = "access-denied-calls"
    let store: any SchedulingStore
    let monitor: AccessMonitor
    let clock: any RotorClock
    let logger: Logger
    let host = ProcessInfo.processInfo.hostName

    public init(store: any SchedulingStore, monitor: AccessMonitor, clock: any RotorClock, logger: Logger) {
        self.store = store
        self.monitor = monitor
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await pass() } catch { logger.warning("denied-call feed failed; retrying", metadata: ["error": "\(error)"]) }
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: .seconds(5)) }
        }
    }

    /// Reads the audit log past the cursor; returns the denied calls it reported.
    @discardableResult
    public func pass() async throws -> Int {
        var reported = 0
        while true {
            let from = try await store.outboxCursor(Self.cursor)
            let events = try await store.auditEvents(after: from, limit: 1000)
            guard let last = events.last?.position else { return reported }
            let now = clock.now()
            let denied = events.compactMap { event -> AccessReport? in
                // Older than the window (a first pass over a long history): it can no longer fire.
                guard event.operation.hasPrefix("aws."), event.outcome == RotorError.Code.accessDenied.name, let secret = event.secret,
                      now.timeIntervalSince(event.at) < monitor.rules.window else { return nil }
                return AccessReport(secret: secret, service: "rotor", environment: secret.environment.name, host: host, reads: 0, denied: 1,
                                    first: event.at, last: event.at, key: event.position.map { "audit:\($0)" })
            }
            if !denied.isEmpty { try await monitor.receive(denied) }
            guard try await store.moveCursor(Self.cursor, from: from, to: last) else { continue }
            reported += denied.count
        }
    }
}
