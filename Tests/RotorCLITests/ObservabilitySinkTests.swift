import Foundation
import RotorTestSupport
import Testing

/// The daemon's audit sink (CloudWatch Logs) and alert sinks (EventBridge, SNS) on a moto_server of
/// the test's own with IAM enforcement on, the daemon holding only the policy `rotor iam policy`
/// generated for it and its sinks: audit records arrive in the day's stream, in order; a failed
/// rotation arrives as an EventBridge event and an SNS message with the same id; every call is
/// allowed by the generated policy's own resources.
@Suite(.enabled(if: MotoSettings.enabled, "moto_server runs under 'make test'"))
struct ObservabilitySinkTests {
    @Test func auditRecordsAndAlertsReachCloudWatchEventBridgeAndSNS() async throws {
        try await HeavyTests.oneAtATime {
            var cli = try CLI()
            let environment = "obs" + UUID().uuidString.lowercased().filter(\.isLetter).prefix(8)
            let (group, bus, topic) = ("/aws/lambda/secret-audit-\(environment)", "rotor-\(environment)", "rotor-alerts-\(environment)")
            let topicARN = "arn:aws:sns:us-east-1:123456789012:\(topic)"
            let policies = try cli.policies("""
                policies:
                  - name: tokens
                    match: [/\(environment)/shop/api-key/*]
                    rotator: random-password
                    every: 30d
                  - name: vendor
                    match: [/\(environment)/vendor/api-token/*]
                    rotator: manual
                    every: 1h
                """)
            let sinks = ["cloudwatch:\(group)", "eventbridge:\(bus)", "sns:\(topicARN)"]
            let generated = try await cli.run(["iam", "policy", "--policies", policies.path, "--role", "daemon", "--environment", environment,
                                               "--account", "123456789012", "--region", "us-east-1", "--allow-create", "--format", "json"]
                                              + sinks.flatMap { ["--sink", $0] })
            #expect(generated.status == 0, "\(generated.stderr)")
            let moto = try await IAMMoto(policies: Data(generated.stdout.utf8))
            defer { moto.stop() }
            let admin = try moto.credentials("admin")
            let setup = try await IAMMoto.python(["setup", moto.endpoint.absoluteString, group, bus, topic], script: "aws-sinks.py", credentials: admin)
            let queues = try #require(try JSONSerialization.jsonObject(with: Data(setup.output.utf8)) as? [String: String], "\(setup.output)")

            cli.environment = IAMPolicyTests.awsEnvironment(try moto.credentials("rotor-daemon-\(environment)"))
            cli.environment["AWS_ENDPOINT_URL"] = moto.endpoint.absoluteString
            let (token, vendor) = ("/\(environment)/shop/api-key/k1", "/\(environment)/vendor/api-token/partner")
            #expect(try await cli.run("secret", "create", token, "--rotator", "random-password").status == 0)
            #expect(try await cli.run(["secret", "create", vendor, "--rotator", "manual", "--value-stdin"], stdin: Data("CANARY-sink-value".utf8)).status == 0)
            try cli.backdate(token, days: 40)
            try cli.backdate(vendor, days: 1)
            let daemon = try DaemonProcess(home: cli.home, policies: policies, extraArguments: sinks.flatMap { $0.hasPrefix("cloudwatch:") ? ["--audit-sink", $0] : ["--alert-sink", $0] },
                                           environment: cli.environment)
            defer { daemon.signal(SIGTERM) }

            var received: [String: Any] = [:]
            let arrived = try await CLI.eventually(timeout: 120) {
                let read = try await IAMMoto.python(["read", moto.endpoint.absoluteString, group, queues["eventsQueue"]!, queues["snsQueue"]!], script: "aws-sinks.py", credentials: admin)
                received = (try? JSONSerialization.jsonObject(with: Data(read.output.utf8)) as? [String: Any]) ?? [:]
                let logged = (received["streams"] as? [String: [String]])?.values.joined().contains { $0.contains("\"operation\":\"rotation.finish\"") && $0.contains(token) } ?? false
                return logged && !(received["events"] as? [Any] ?? []).isEmpty && !(received["sns"] as? [Any] ?? []).isEmpty
            }
            #expect(arrived, "\(received) \(daemon.output.suffix(2000))")

            // Audit: one stream for today (UTC), each record once, never a value. (CloudWatch orders a stream
            // by timestamp; the audit ids of two concurrent rotations follow their commits, so they need not be sorted.)
            let streams = received["streams"] as? [String: [String]] ?? [:]
            let day = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate]).replacingOccurrences(of: "-", with: "/")
            #expect(streams.keys.contains(day), "\(streams.keys)")
            let records = (streams[day] ?? []).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let ids = records.compactMap { $0["id"] as? Int }
            #expect(!ids.isEmpty && Set(ids).count == ids.count && records.allSatisfy { $0["time"] != nil && $0["operation"] != nil }, "\(ids)")
            #expect(records.contains { $0["operation"] as? String == "aws.PutSecretValue" && $0["requestId"] != nil && $0["service"] as? String == "shop" })

            // Alerts: the failed manual rotation, as an event and as a message, with one id.
            let event = try #require((received["events"] as? [[String: Any]])?.first)
            #expect(event["source"] as? String == "rotor" && event["detail-type"] as? String == "Rotor Rotation Failed")
            let detail = try #require(event["detail"] as? [String: Any])
            #expect(detail["secret"] as? String == vendor && detail["kind"] as? String == "rotation.failed")
            let message = try #require((received["sns"] as? [[String: Any]])?.first)
            #expect(message["Subject"] as? String == "rotor: rotation.failed \(vendor)")
            let published = try #require(try JSONSerialization.jsonObject(with: Data((message["Message"] as? String ?? "").utf8)) as? [String: Any])
            #expect(published["id"] as? String == detail["id"] as? String)
            #expect(!"\(received)".contains("CANARY") && !daemon.output.contains("CANARY"))

            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit() == 0)
            // Every call the daemon made is allowed by its generated policy's resources; other sinks are not.
            let evaluation = try await moto.evaluate(probes: [
                ["policy": "rotor-daemon-\(environment)", "action": "logs:PutLogEvents",
                 "resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/other:log-stream:x", "expect": "deny"],
                ["policy": "rotor-daemon-\(environment)", "action": "sns:Publish", "resource": "arn:aws:sns:us-east-1:123456789012:other", "expect": "deny"],
                ["policy": "rotor-daemon-\(environment)", "action": "events:PutEvents", "resource": "arn:aws:events:us-east-1:123456789012:event-bus/default", "expect": "deny"],
            ])
            #expect(evaluation.status == 0, "\(evaluation.output)")
            #expect(evaluation.output.contains("logs:PutLogEvents") && evaluation.output.contains("events:PutEvents") && evaluation.output.contains("sns:Publish"))
            }
    }

    /// `rotor audit --ship` ships what the daemon has not: the same records, from the same cursor.
    @Test func aOneShotShipAndJSONLines() async throws {
        try await HeavyTests.oneAtATime {
            var cli = try CLI()
            let environment = "shp" + UUID().uuidString.lowercased().filter(\.isLetter).prefix(8)
            let moto = try await IAMMoto(policies: Data(#"{"policies": []}"#.utf8))
            defer { moto.stop() }
            let admin = try moto.credentials("admin")
            let group = "/aws/lambda/secret-audit-\(environment)"
            _ = try await IAMMoto.python(["setup", moto.endpoint.absoluteString, group, "rotor-\(environment)", "t-\(environment)"], script: "aws-sinks.py", credentials: admin)
            cli.environment = IAMPolicyTests.awsEnvironment(admin)
            cli.environment["AWS_ENDPOINT_URL"] = moto.endpoint.absoluteString
            #expect(try await cli.run("secret", "create", "/\(environment)/shop/api-key/k1", "--rotator", "random-password").status == 0)
            let lines = try await cli.auditEvents()
            #expect(!lines.isEmpty && lines.allSatisfy { $0["id"] is Int && $0["environment"] as? String == environment })
            let first = try await cli.run("audit", "--ship", "cloudwatch:\(group)")
            #expect(first.status == 0 && first.stdout.contains("shipped \(lines.count) audit events"), "\(first.output)")
            let again = try await cli.run("audit", "--ship", "cloudwatch:\(group)")
            #expect(again.stdout.contains("shipped 0 audit events"))
            let missing = try await cli.run("audit", "--ship", "cloudwatch:/aws/lambda/no-such-group-\(environment)")
            #expect(missing.status != 0 && missing.stderr.contains("does not exist"), "\(missing.output)")
            }
    }
}
