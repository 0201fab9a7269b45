import Foundation
import Logging
import RotorCore
import Synchronization

/// Ships audit records to a CloudWatch Logs group, one stream per UTC day (`YYYY/MM/DD`), with
/// `PutLogEvents` batches inside its limits: at most 10,000 events and 1,048,576 bytes (each
/// event's UTF-8 plus 26), in chronological order. The group must exist (its retention is the
/// operator's choice); streams are created as needed. Events CloudWatch rejects for their age are
/// logged, since no retry can place them.
public final class CloudWatchLogsSink: AuditLogSink {
    static let maximumEvents = 10_000
    static let maximumBytes = 1_048_576
    static let overheadPerEvent = 26
    /// CloudWatch's largest event (older documents: 256 KB; the smaller bound is kept).
    static let maximumEventBytes = 262_144 - 26

    public let group: String
    public var name: String { "cloudwatch:\(group)" }
    let client: AWSJSONClient
    let logger: Logger
    private let created = Mutex<Set<String>>([])

    public init(group: String, client: AWSJSONClient, logger: Logger) throws {
        guard group.wholeMatch(of: /[.\-_\/#A-Za-z0-9]{1,512}/) != nil else {
            throw RotorError(.invalidParameter, "log group '\(group.printable(limit: 80))' must be 1-512 of letters, digits and . - _ / #")
        }
        self.group = group
        self.client = client
        self.logger = logger
    }

    /// The day's stream name, in UTC.
    static func stream(for date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d/%02d/%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    public func ship(_ events: [AuditEvent]) async throws {
        var streams: [(name: String, events: [AuditEvent])] = []
        for event in events {
            let name = Self.stream(for: event.at)
            if streams.last?.name == name { streams[streams.count - 1].events.append(event) } else { streams.append((name, [event])) }
        }
        for (stream, events) in streams {
            try await createStream(stream)
            for batch in Self.batches(events.map { (Int64(($0.at.timeIntervalSince1970 * 1000).rounded(.down)), Self.message($0)) }) {
                try await put(batch, stream: stream)
            }
        }
    }

    /// One event's message: the audit record, cut (never split) at CloudWatch's event size.
    static func message(_ event: AuditEvent) -> String {
        let line = AuditRecord.line(event)
        guard line.utf8.count > maximumEventBytes else { return line }
        // Cut on a character boundary, so the cut never grows past the limit.
        var cut = Substring(line)
        while cut.utf8.count > maximumEventBytes { cut = cut.dropLast(max(1, (cut.utf8.count - maximumEventBytes) / 4)) }
        return String(cut)
    }

    /// Events in `PutLogEvents` batches, each sorted by time (stable), within the count and size limits.
    static func batches(_ events: [(timestamp: Int64, message: String)]) -> [[(timestamp: Int64, message: String)]] {
        var batches: [[(timestamp: Int64, message: String)]] = [[]]
        var bytes = 0
        for event in events {
            let size = event.message.utf8.count + overheadPerEvent
            if batches[batches.count - 1].count == maximumEvents || bytes + size > maximumBytes {
                batches.append([])
                bytes = 0
            }
            batches[batches.count - 1].append(event)
            bytes += size
        }
        return batches.filter { !$0.isEmpty }.map { batch in
            batch.enumerated().sorted { ($0.element.timestamp, $0.offset) < ($1.element.timestamp, $1.offset) }.map(\.element)
        }
    }

    func createStream(_ stream: String) async throws {
        guard !created.withLock({ $0.contains(stream) }) else { return }
        let body = try JSONSerialization.data(withJSONObject: ["logGroupName": group, "logStreamName": stream])
        do {
            _ = try await client.send(operation: "CreateLogStream", body: body) { fault in
                fault.type == "ResourceAlreadyExistsException" ? RotorError(.secretExists, "the stream exists") : nil
            }
        } catch let error as RotorError where error.code == .secretExists {
            // Created by another process or an earlier run.
        } catch let error as RotorError where error.code == .secretNotFound {
            throw RotorError(.invalidParameter, "CloudWatch Logs group \(group) does not exist", remedy: "create it with the retention you need (aws logs create-log-group; put-retention-policy)")
        }
        created.withLock { _ = $0.insert(stream) }
    }

    func put(_ batch: [(timestamp: Int64, message: String)], stream: String) async throws {
        let body = try JSONSerialization.data(withJSONObject: [
            "logGroupName": group, "logStreamName": stream,
            "logEvents": batch.map { ["timestamp": $0.timestamp, "message": $0.message] as [String: Any] },
        ] as [String: Any])
        let answer = try await client.send(operation: "PutLogEvents", body: body).object()
        if let rejected = answer["rejectedLogEventsInfo"] as? [String: Any], !rejected.isEmpty {
            logger.warning("CloudWatch Logs rejected audit events for their time (too old, expired or too new); they stay in rotor's audit log",
                           metadata: ["group": "\(group)", "stream": "\(stream)", "rejected": "\(rejected.keys.sorted())"])
        }
    }
}
