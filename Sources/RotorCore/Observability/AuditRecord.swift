import Foundation

/// An audit event as one JSON object, the same for `rotor audit --json` and every audit sink:
/// `id`, `time`, `actor`, `secret`, `environment`, `service`, `operation`, `outcome`, `requestId`,
/// `detail`. Audit events never hold a secret value, so neither does the record.
public enum AuditRecord {
    public static func object(_ event: AuditEvent) -> [String: Any] {
        var object: [String: Any] = [
            "time": event.at.formatted(.iso8601), "actor": event.actor, "operation": event.operation, "outcome": event.outcome,
        ]
        if let position = event.position { object["id"] = position }
        if let secret = event.secret {
            object["secret"] = secret.rawValue
            object["environment"] = secret.environment.name
            object["service"] = secret.service
        }
        if let detail = event.detail { object["detail"] = detail }
        if let requestID = requestID(event.detail) { object["requestId"] = requestID }
        return object
    }

    /// The record as one line of JSON (keys sorted).
    public static func line(_ event: AuditEvent) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object(event), options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The AWS request id a store call recorded (`request id ID` in the detail).
    static func requestID(_ detail: String?) -> String? {
        guard let detail, let range = detail.range(of: "request id ") else { return nil }
        let id = detail[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
        return id.isEmpty ? nil : String(id)
    }
}

/// Where audit records go besides the state database (which stays the source of truth).
public protocol AuditLogSink: Sendable {
    /// Names the sink's cursor: the position up to which the audit log was shipped there.
    var name: String { get }
    /// Ships `events` (oldest first) in as few calls as the destination's limits allow; throws when
    /// any was not accepted, so the caller retries from the first.
    func ship(_ events: [AuditEvent]) async throws
}

/// Where operator alerts go besides webhooks: each sink has its own outbox channel.
public protocol AlertSink: Sendable {
    /// The outbox channel (e.g. `alert.eventbridge`).
    var channel: String { get }
    /// Delivers one alert (its JSON payload, with an `id`); throws a ``RotorError`` on failure.
    func deliver(_ alert: AlertRecord) async throws
}
