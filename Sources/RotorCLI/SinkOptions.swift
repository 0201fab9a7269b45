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
        try specs.map { spec in
            guard spec.hasPrefix("cloudwatch:") else {
                throw RotorError(.invalidParameter, "audit sink '\(spec.printable(limit: 80))' is not cloudwatch:LOG-GROUP")
            }
            return try CloudWatchLogsSink(group: String(spec.dropFirst("cloudwatch:".count)), client: try client(.cloudWatchLogs, global), logger: logger)
        }
    }

    static func alertSinks(_ specs: [String], _ global: GlobalOptions) throws -> [any AlertSink] {
        try specs.map { spec -> any AlertSink in
            if spec.hasPrefix("eventbridge:") { return try EventBridgeAlertSink(bus: String(spec.dropFirst("eventbridge:".count)), client: try client(.eventBridge, global)) }
            if spec.hasPrefix("sns:") { return try SNSAlertSink(topicARN: String(spec.dropFirst("sns:".count)), client: try client(.sns, global)) }
            throw RotorError(.invalidParameter, "alert sink '\(spec.printable(limit: 80))' is not eventbridge:BUS or sns:TOPIC-ARN")
        }
    }

    static func client(_ service: AWSJSONService, _ global: GlobalOptions) throws -> AWSJSONClient {
        let settings = try AWSSettings.resolve(region: global.region, profile: global.profile, endpointURL: nil, environment: global.env)
        return AWSJSONClient(service: service, endpoint: try settings.endpoint(for: service, environment: global.env), region: settings.region,
                             credentials: settings.credentials, retry: AWSRetryPolicy(maxAttempts: settings.maxAttempts))
    }
}
