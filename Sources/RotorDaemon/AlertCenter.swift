import Foundation
import Logging
import RotorCore

/// Raises operator alerts: logs them and puts them in the outbox, from which the dispatcher delivers
/// them to webhooks, so none is lost across restarts. Alerts carry metadata only, never values.
public struct AlertCenter: Sendable {
    public enum Kind: String, Sendable {
        case rotationFailed = "rotation.failed"
        case quarantined = "secret.quarantined"
        case manualRotationDue = "manual.rotation-due"
        case maxAgeAtRisk = "secret.max-age-at-risk"
        case policyError = "policy.error"
        case suspiciousAccess = "access.suspicious"
    }

    let outbox: any SchedulingStore
    let clock: any RotorClock
    let logger: Logger
    /// The outbox channels of the alert sinks (EventBridge, SNS) besides the webhooks' own.
    let channels: [String]

    public init(outbox: any SchedulingStore, clock: any RotorClock, logger: Logger, channels: [String] = []) {
        self.outbox = outbox
        self.clock = clock
        self.logger = logger
        self.channels = channels
    }

    /// Logs the alert and queues it, with a fresh `id` that every sink delivers, for each channel.
    public func raise(_ kind: Kind, secret: SecretID?, _ message: String, details: [String: String] = [:]) async {
        let now = clock.now()
        let id = UUID().uuidString.lowercased()
        var document: [String: Any] = ["id": id, "kind": kind.rawValue, "time": now.formatted(.iso8601), "message": message, "details": details]
        if let secret { document["secret"] = secret.rawValue }
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        logger.warning("alert", metadata: ["kind": "\(kind.rawValue)", "secret": "\(secret?.rawValue ?? "-")", "message": "\(message)"])
        let record = AlertRecord(createdAt: now, kind: kind.rawValue, secret: secret, payload: String(decoding: data, as: UTF8.self))
        do {
            try await outbox.enqueueAlert(record)
            for channel in channels { _ = try await outbox.enqueueOutbox([(record, id)], channel: channel, cursor: nil) }
        } catch {
            logger.error("could not store alert in the outbox", metadata: ["kind": "\(kind.rawValue)", "error": "\(error)"])
        }
    }
}
