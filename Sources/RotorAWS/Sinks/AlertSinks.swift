import Foundation
import RotorCore

/// The alert's fields a sink needs, read from its outbox payload (`AlertCenter`'s JSON).
struct AlertFields {
    let id: String
    let kind: String
    let secret: String?
    let message: String

    init(_ alert: AlertRecord) {
        let object = (try? JSONSerialization.jsonObject(with: Data(alert.payload.utf8))) as? [String: Any] ?? [:]
        id = object["id"] as? String ?? "outbox-\(alert.id)"
        kind = alert.kind
        secret = alert.secret?.rawValue
        message = object["message"] as? String ?? alert.kind
    }

    /// `rotation.failed` → `Rotor Rotation Failed`: the event's detail-type, after Secrets Manager's own
    /// (`Rotation Failed`, `Secret Label Updated`).
    var detailType: String {
        "Rotor " + kind.split(whereSeparator: { $0 == "." || $0 == "-" }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
    }
}

/// Alerts as EventBridge events (`PutEvents`): `source` rotor's (default `rotor`), `detail-type`
/// `Rotor <Kind>` (e.g. `Rotor Rotation Failed`), `detail` the alert's JSON (`id`, `kind`, `time`,
/// `secret`, `message`, `details`), never a value. An entry EventBridge refuses fails the delivery
/// (a partial failure is HTTP 200, so every entry is checked).
public struct EventBridgeAlertSink: AlertSink {
    public let bus: String
    public let source: String
    let client: AWSJSONClient
    public var channel: String { "alert.eventbridge:\(bus)" }

    public init(bus: String, source: String = "rotor", client: AWSJSONClient) throws {
        guard !source.hasPrefix("aws."), (1...256).contains(source.count) else {
            throw RotorError(.invalidParameter, "EventBridge source '\(source.printable(limit: 60))' must be 1-256 characters and not start with aws.")
        }
        guard (1...1600).contains(bus.count) else { throw RotorError(.invalidParameter, "EventBridge bus name or ARN is empty or too long") }
        self.bus = bus
        self.source = source
        self.client = client
    }

    public func deliver(_ alert: AlertRecord) async throws {
        let fields = AlertFields(alert)
        let entry: [String: Any] = [
            "Source": source, "DetailType": fields.detailType, "Detail": alert.payload, "EventBusName": bus,
            // JSON 1.1 timestamps are epoch seconds.
            "Time": alert.createdAt.timeIntervalSince1970.rounded(.down), "Resources": [String](),
        ]
        let answer = try await client.send(operation: "PutEvents", body: try JSONSerialization.data(withJSONObject: ["Entries": [entry]])).object()
        let results = answer["Entries"] as? [[String: Any]] ?? []
        if (answer["FailedEntryCount"] as? Int ?? 0) > 0 || results.first?["ErrorCode"] != nil || results.first?["EventId"] == nil {
            let code = results.first?["ErrorCode"] as? String ?? "no EventId"
            throw RotorError(.remoteFailure, "EventBridge refused alert \(fields.id): \(code.printable(limit: 100))", isTransient: code == "InternalFailure" || code == "ThrottlingException")
        }
    }
}

/// Alerts as SNS messages (`Publish`): the alert's JSON as the message, `rotor: KIND SECRET` as the
/// subject, `kind` as a message attribute. On a FIFO topic the secret is the message group (ordered
/// per secret) and the alert's id the deduplication id.
public struct SNSAlertSink: AlertSink {
    public let topicARN: String
    let client: AWSJSONClient
    public var channel: String { "alert.sns:\(topicARN)" }
    static let maximumMessageBytes = 262_144

    public init(topicARN: String, client: AWSJSONClient) throws {
        guard topicARN.wholeMatch(of: /arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?/) != nil else {
            throw RotorError(.invalidParameter, "'\(topicARN.printable(limit: 120))' is not an SNS topic ARN")
        }
        self.topicARN = topicARN
        self.client = client
    }

    public func deliver(_ alert: AlertRecord) async throws {
        let fields = AlertFields(alert)
        guard alert.payload.utf8.count <= Self.maximumMessageBytes else {
            throw RotorError(.invalidInput, "alert \(fields.id) exceeds SNS's 256 KB message limit")
        }
        let subject = String("rotor: \(fields.kind) \(fields.secret ?? "")".filter { !$0.isNewline }.prefix(99))
        var parameters = [("TopicArn", topicARN), ("Message", alert.payload), ("Subject", subject),
                          ("MessageAttributes.entry.1.Name", "kind"), ("MessageAttributes.entry.1.Value.DataType", "String"),
                          ("MessageAttributes.entry.1.Value.StringValue", fields.kind)]
        if topicARN.hasSuffix(".fifo") {
            parameters += [("MessageGroupId", fields.secret ?? "rotor"), ("MessageDeduplicationId", String(fields.id.prefix(128)))]
        }
        let answer = try await client.sendQuery(action: "Publish", parameters: parameters, version: "2010-03-31")
        guard String(decoding: answer.body, as: UTF8.self).contains("<MessageId>") else {
            throw RotorError(.remoteFailure, "SNS answered Publish of alert \(fields.id) without a MessageId")
        }
    }
}
