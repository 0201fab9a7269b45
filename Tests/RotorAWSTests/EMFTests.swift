import CoreMetrics
import Foundation
@testable import RotorAWS
import RotorCore
import RotorTestSupport
import Synchronization
import Testing

/// The Embedded Metric Format back end: documents within the format's limits, dimensions only from
/// small fixed sets, a secret id as a property (no metric per secret), and the AWS client's calls.
@Suite struct EMFTests {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func add(_ line: String) { lines.withLock { $0.append(line) } }
        var documents: [[String: Any]] { EMFSpec.documents(in: all.map { Substring($0) }) }
    }

    func emf(_ lines: Lines) -> EMFMetrics { EMFMetrics(write: lines.add) }

    @Test func countersAddUpAndTimersAreMillisecondsInValidDocuments() {
        let lines = Lines()
        let emf = emf(lines)
        for _ in 0..<3 {
            CoreMetrics.Counter(label: "rotor_rotations_total", dimensions: [("rotator", "random-password"), ("environment", "prod"), ("outcome", "succeeded")], factory: emf).increment()
        }
        CoreMetrics.Timer(label: "rotor_step_duration_seconds", dimensions: [("rotator", "random-password"), ("environment", "prod"), ("outcome", "succeeded")], factory: emf)
            .recordNanoseconds(2_500_000)
        emf.flush(at: Date(timeIntervalSince1970: 1_700_000_000))
        let documents = lines.documents
        #expect(documents.count == 1 && documents.allSatisfy { EMFSpec.violations($0).isEmpty })
        let document = documents[0]
        #expect(document["Rotations"] as? Double == 3 && document["StepDuration"] as? Double == 2.5)
        #expect(document["rotator"] as? String == "random-password" && document["environment"] as? String == "prod")
        let aws = document["_aws"] as? [String: Any]
        #expect(aws?["Timestamp"] as? Int == 1_700_000_000_000)
        let directive = (aws?["CloudWatchMetrics"] as? [[String: Any]])?.first
        #expect(directive?["Namespace"] as? String == "rotor")
        #expect(directive?["Dimensions"] as? [[String]] == [["environment", "outcome", "rotator"]])
        // A flush starts afresh.
        #expect(emf.flush().isEmpty)
    }

    /// A secret id is a searchable member, never a dimension: a fleet of a million secrets still
    /// makes one metric per kind, environment and outcome. Unknown labels are dropped.
    @Test func aSecretIsAPropertyAndUnknownLabelsAreDropped() {
        let lines = Lines()
        let emf = emf(lines)
        for secret in ["/prod/a/api-key/x", "/prod/b/api-key/y"] {
            CoreMetrics.Counter(label: "rotor_secrets_retrievals_total", dimensions: [("secret", secret), ("client", "10.0.0.7")], factory: emf).increment()
        }
        emf.flush()
        let documents = lines.documents
        #expect(documents.count == 2 && documents.allSatisfy { EMFSpec.violations($0).isEmpty })
        #expect(Set(documents.compactMap { $0["secret"] as? String }) == ["/prod/a/api-key/x", "/prod/b/api-key/y"])
        for document in documents {
            let directive = ((document["_aws"] as? [String: Any])?["CloudWatchMetrics"] as? [[String: Any]])?.first
            #expect(directive?["Dimensions"] as? [[String]] == [[]] && document["client"] == nil && document["SecretsRetrievals"] as? Double == 1)
        }
    }

    /// More than 100 values or 100 metrics go to further documents, each within the limits.
    @Test func largeFlushesAreSplitWithinTheLimits() {
        let lines = Lines()
        let emf = emf(lines)
        let timer = CoreMetrics.Timer(label: "rotor_step_duration_seconds", dimensions: [("step", "setSecret")], factory: emf)
        for value in 0..<250 { timer.recordNanoseconds(Int64(value) * 1_000_000) }
        for n in 0..<130 { CoreMetrics.Counter(label: "rotor_metric_\(n)_total", factory: emf).increment() }
        emf.flush()
        let documents = lines.documents
        #expect(documents.allSatisfy { EMFSpec.violations($0).isEmpty }, "\(documents.flatMap(EMFSpec.violations))")
        let durations = documents.compactMap { $0["StepDuration"] as? [Double] }
        #expect(durations.map(\.count) == [100, 100, 50] && durations.joined().reduce(0, +) == Double((0..<250).reduce(0, +)))
        #expect(documents.compactMap { d in (0..<130).first { d["Metric\($0)"] != nil } }.count == 2)
    }

    @Test func metricNamesBecomeCloudWatchNames() {
        #expect(EMFMetrics.metricName("rotor_aws_calls_total") == "AwsCalls")
        #expect(EMFMetrics.metricName("rotor_step_duration_seconds") == "StepDuration")
        #expect(EMFMetrics.metricName("custom") == "Custom")
    }

    /// The client counts each call by API and outcome; access denied also on its own series; an
    /// error type rotor does not know is `OtherError`, so an endpoint cannot grow the label set.
    @Test func theAWSClientCountsCallsByAPIAndOutcome() async throws {
        let answers = Mutex<[String]>(["AccessDeniedException", "NoSuchThing\(UUID().uuidString.prefix(6))", "ok"])
        let server = try await LoopbackHTTPServer { _ in
            let type = answers.withLock { $0.removeFirst() }
            if type == "ok" { return .respond(status: 200, headers: [], body: Array(#"{"Name":"x"}"#.utf8)) }
            return .respond(status: 400, headers: [("Content-Type", "application/x-amz-json-1.1")], body: Array(#"{"__type":"\#(type)","message":"no"}"#.utf8))
        }
        defer { Task { try await server.close() } }
        let lines = Lines()
        let emf = emf(lines)
        let client = SecretsManagerClient(endpoint: server.url, region: "us-east-1",
                                          credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")), metrics: emf)
        for _ in 0..<3 { _ = try? await client.send(.describeSecret, body: Data(#"{"SecretId":"/prod/a/api-key/x"}"#.utf8)) }
        emf.flush()
        let documents = lines.documents
        #expect(documents.allSatisfy { EMFSpec.violations($0).isEmpty })
        let calls = documents.filter { $0["AwsCalls"] != nil }.map { "\($0["api"] ?? "")/\($0["outcome"] ?? "")" }.sorted()
        #expect(calls == ["DescribeSecret/AccessDeniedException", "DescribeSecret/OtherError", "DescribeSecret/ok"])
        #expect(documents.contains { $0["AwsAccessDenied"] as? Double == 1 && $0["api"] as? String == "DescribeSecret" && $0["service"] as? String == "secretsmanager" })
    }
}

/// The CloudWatch Logs audit sink's batching: PutLogEvents' count and size limits, time order.
@Suite struct CloudWatchLogsBatchTests {
    @Test func batchesKeepPutLogEventsLimitsAndTimeOrder() {
        let small = (0..<25_000).map { (timestamp: Int64(1_000 + $0), message: "event \($0)") }
        let batches = CloudWatchLogsSink.batches(small)
        #expect(batches.map(\.count) == [10_000, 10_000, 5_000])
        let large = (0..<40).map { (timestamp: Int64(40 - $0), message: String(repeating: "x", count: 60_000)) }
        let sized = CloudWatchLogsSink.batches(large)
        #expect(sized.allSatisfy { batch in batch.reduce(0) { $0 + $1.message.utf8.count + 26 } <= 1_048_576 })
        #expect(sized.flatMap { $0 }.count == 40 && sized.allSatisfy { $0.map(\.timestamp) == $0.map(\.timestamp).sorted() })
    }

    @Test func oneStreamPerUTCDay() {
        #expect(CloudWatchLogsSink.stream(for: Date(timeIntervalSince1970: 1_765_065_599)) == "2025/12/06")
        #expect(CloudWatchLogsSink.stream(for: Date(timeIntervalSince1970: 1_765_065_600)) == "2025/12/07")
    }
}
