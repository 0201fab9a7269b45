import Foundation
import Logging
import RotorAWS
import RotorCore

/// Audit and alert sinks named on the command line:
/// `cloudwatch:LOG-GROUP` (audit), `eventbridge:BUS` and `sns:TOPIC-ARN` (alerts). They use the
/// AWS credentials and region rotor resolves for Secrets Manager; endpoints follow
/// `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`, `AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL_SNS`.
enum SinkOptions {
    static func auditSinks(_ specs: [String], _ global: GlobalOptions, logger: Logger) throws -> [any AuditLogSink] {
        guard !specs.isEmpty else { return [] }
        let settings = try settings(global)
        return try specs.map { spec in
            guard spec.hasPrefix("cloudwatch:") else {
                throw RotorError(.invalidParameter, "audit sink '\(spec.printable(limit: 80))' is not cloudwatch:LOG-GROUP")
            }
            return try CloudWatchLogsSink(group: String(spec.dropFirst("cloudwatch:".count)), client: try client(.cloudWatchLogs, settings, global), logger: logger)
        }
    }

    static func alertSinks(_ specs: [String], _ global: GlobalOptions) throws -> [any AlertSink] {
        guard !specs.isEmpty else { return [] }
        let settings = try settings(global)
        return try specs.map { spec -> any AlertSink in
            if spec.hasPrefix("eventbridge:") { return try EventBridgeAlertSink(bus: String(spec.dropFirst("eventbridge:".count)), client: try client(.eventBridge, settings, global)) }
            if spec.hasPrefix("sns:") { return try SNSAlertSink(topicARN: String(spec.dropFirst("sns:".count)), client: try client(.sns, settings, global)) }
            throw RotorError(.invalidParameter, "alert sink '\(spec.printable(limit: 80))' is not eventbridge:BUS or sns:TOPIC-ARN")
        }
    }

    /// Region and credentials, resolved once for all the sinks of one list.
    static func settings(_ global: GlobalOptions) throws -> AWSSettings {
        try AWSSettings.resolve(region: global.region, profile: global.profile, endpointURL: nil, environment: global.env)
    }

    static func client(_ service: AWSJSONService, _ settings: AWSSettings, _ global: GlobalOptions) throws -> AWSJSONClient {
        AWSJSONClient(service: service, endpoint: try settings.endpoint(for: service, environment: global.env), region: settings.region,
                             credentials: settings.credentials, retry: AWSRetryPolicy(maxAttempts: settings.maxAttempts))
    }
}
