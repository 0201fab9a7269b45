import Foundation
import Logging
import RotorAWS
import RotorCore
import RotorLambda
import RotorPostgres
import PostgresNIO
import RotorTestSupport
import Testing

/// The `bootstrap` binary as Secrets Manager's rotation function: a Runtime API emulator on loopback
/// hands it events, moto is Secrets Manager, and the test drives a rotation the way Secrets Manager does.
@Suite(.enabled(if: Moto.enabled, "moto_server runs under 'make test'"))
struct LambdaTests {
    @Test func aFullRotationDrivenLikeSecretsManager() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password", "ROTOR_OPTION_LENGTH": "40", "ROTOR_OPTION_EXCLUDE_PUNCTUATION": "true"])
        defer { harness.stop() }
        let (id, arn, original) = try await harness.secret("CANARY-lambda-initial-value")
        let token = try await harness.startRotation(id)
        for step in RotationStep.allCases {
            let result = await harness.emulator.invoke(LambdaHarness.event(step, arn, token))
            #expect(result.isSuccess, "\(step): \(result)")
        }
        let labels = try await harness.store.describeSecret(id).versionIDsToStages
        #expect(labels[token]?.contains(.current) == true && labels[original] == [.previous])
        let value = try await harness.store.getSecretValue(id, .current).value
        #expect(value.exposedString?.count == 40)
        // Logs: JSON lines with the request id, never a value.
        let lines = harness.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty && lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        #expect(lines.contains { $0.contains("\"requestId\"") && $0.contains("step done") })
        #expect(!harness.output.contains("CANARY") && !harness.output.contains(value.exposedString!))
        // CloudWatch metrics as Embedded Metric Format lines, valid, by rotator and environment.
        let documents = EMFSpec.documents(in: harness.output.split(separator: "\n"))
        #expect(!documents.isEmpty && documents.allSatisfy { EMFSpec.violations($0).isEmpty }, "\(documents.flatMap(EMFSpec.violations))")
        let rotations = documents.filter { $0["Rotations"] != nil }
        #expect(Set(rotations.compactMap { $0["outcome"] as? String }) == ["started", "succeeded"])
        #expect(rotations.allSatisfy { $0["rotator"] as? String == "random-password" && $0["environment"] as? String == id.environment.name })
        #expect(documents.filter { $0["StepDuration"] != nil }.count == 4)
        #expect(documents.contains { $0["AwsCalls"] != nil && $0["api"] as? String == "PutSecretValue" && $0["outcome"] as? String == "ok" })
    }

    /// PostgreSQL single-user rotation through the function, against the real server; the rotator
    /// comes from the secret's tags.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ROTOR_TEST_PG_PORT"] != nil
                   || ProcessInfo.processInfo.environment["ROTOR_REQUIRE_INTEGRATION"] == "1", "PostgreSQL runs under 'make test'"))
    func aPostgresRotationThroughTheFunction() async throws {
        let env = ProcessInfo.processInfo.environment
        let (host, port, superuser, password) = (env["ROTOR_TEST_PG_HOST"]!, Int(env["ROTOR_TEST_PG_PORT"]!)!, env["ROTOR_TEST_PG_USER"]!, env["ROTOR_TEST_PG_PASSWORD"]!)
        let user = "lambda_\(UUID().uuidString.lowercased().prefix(8))"
        let connector = PostgresConnector(caFile: env["ROTOR_TEST_PG_CA"])
        func secret(_ user: String, _ password: String) throws -> PostgresSecret {
            try PostgresSecret(SecretValue(string: #"{"engine":"postgres","host":"\#(host)","port":\#(port),"username":"\#(user)","password":"\#(password)","dbname":"postgres"}"#),
                               secret: try SecretID("/t/pg/db-credentials/x"))
        }
        try await connector.withConnection(try secret(superuser, password), id: try SecretID("/t/pg/db-credentials/x"), step: nil) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(user) WITH LOGIN PASSWORD 'initial-password-0'"), logger: Logger(label: "t")).collect()
        }
        let harness = try await LambdaHarness(environment: ["ROTOR_TAG_OPTIONS": "password-length", "ROTOR_OPTION_CA_FILE": env["ROTOR_TEST_PG_CA"] ?? ""])
        defer { harness.stop() }
        let json = #"{"engine":"postgres","host":"\#(host)","port":\#(port),"username":"\#(user)","password":"initial-password-0","dbname":"postgres"}"#
        let (id, arn, _) = try await harness.secret(json, tags: ["rotor:rotator": "postgres-single-user", "rotor:option:password-length": "24"])
        let token = try await harness.startRotation(id)
        for step in RotationStep.allCases {
            #expect(await harness.emulator.invoke(LambdaHarness.event(step, arn, token)).isSuccess, "\(step): \(harness.output.suffix(500))")
        }
        let current = try await harness.store.getSecretValue(id, .current)
        #expect(current.versionID == token)
        let object = try JSONSerialization.jsonObject(with: Data(current.value.exposedString!.utf8)) as! [String: Any]
        let newPassword = object["password"] as! String
        #expect(newPassword.count == 24)
        #expect(try await connector.canLogIn(try secret(user, newPassword), id: id, step: nil))
        #expect(try await !connector.canLogIn(try secret(user, "initial-password-0"), id: id, step: nil))
    }

    @Test func everyStepIsIdempotentUnderRepeatedInvocation() async throws {
        let harness = try await LambdaHarness(environment: [:])
        defer { harness.stop() }
        let (id, arn, _) = try await harness.secret(nil, tags: ["rotor:rotator": "encryption-key"])
        let token = try await harness.startRotation(id)
        for step in RotationStep.allCases {
            for _ in 0..<2 { #expect(await harness.emulator.invoke(LambdaHarness.event(step, arn, token)).isSuccess, "\(step)") }
        }
        let value = try await harness.store.getSecretValue(id, .current)
        #expect(value.versionID == token && value.value.kind == .binary && value.value.byteCount == 32)
        #expect(try await harness.store.versionIDs(id).count == 2)
    }

    @Test func aFailedStepIsRetriedWithTheSameToken() async throws {
        let proxy = try await FaultInjectingProxy(upstream: try Moto.require().endpoint)
        defer { Task { try? await proxy.close() } }
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"], endpoint: proxy.url)
        defer { harness.stop() }
        let (id, arn, _) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        #expect(await harness.emulator.invoke(LambdaHarness.event(.createSecret, arn, token)).isSuccess)
        #expect(await harness.emulator.invoke(LambdaHarness.event(.setSecret, arn, token)).isSuccess)
        proxy.inject("GetSecretValue", .serverError, .serverError, .serverError, .serverError, .serverError)
        let failed = await harness.emulator.invoke(LambdaHarness.event(.testSecret, arn, token))
        guard case .error(let type, _) = failed else { Issue.record("testSecret should fail: \(failed)"); return }
        #expect(type == "Rotor.transient")
        // Secrets Manager retries the step with the same token.
        #expect(await harness.emulator.invoke(LambdaHarness.event(.testSecret, arn, token)).isSuccess)
        #expect(await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, token)).isSuccess)
        #expect(try await harness.store.getSecretValue(id, .current).versionID == token)
    }

    @Test func badEventsAreInvocationErrorsAndTheLoopGoesOn() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"])
        defer { harness.stop() }
        let (id, arn, _) = try await harness.secret("initial")
        let token = try await harness.startRotation(id)
        let unknownToken = "00000000-0000-4000-8000-000000000000"
        let cases: [(String, String)] = [
            ("this is not json", "not a JSON object"),
            (#"{"Step":"create_secret","SecretId":"\#(arn)","ClientRequestToken":"\#(token)"}"#, "Invalid step parameter"),
            (#"{"SecretId":"\#(arn)","ClientRequestToken":"\#(token)"}"#, "no Step"),
            (LambdaHarness.event(.createSecret, arn, VersionID(unknownToken)), "has no stage for rotation"),
            (#"{"Step":"createSecret","SecretId":"\#(arn)","ClientRequestToken":"short"}"#, "32-64"),
        ]
        for (payload, message) in cases {
            let result = await harness.emulator.invoke(payload)
            guard case .error(_, let text) = result else { Issue.record("\(payload) should fail"); continue }
            #expect(text.contains(message), "\(text)")
        }
        #expect(await harness.emulator.invoke(LambdaHarness.event(.createSecret, arn, token)).isSuccess)
    }

    @Test func aMisconfiguredFunctionReportsAnInitError() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "no-such-rotator"])
        defer { harness.stop() }
        #expect(try await harness.waitForExit() == 1)
        #expect(harness.emulator.initErrors.first?.contains("unknown rotator kind 'no-such-rotator'") == true)
    }

    @Test func alreadyCurrentTokensAreSuccessAndNotPendingOnesAreErrors() async throws {
        let harness = try await LambdaHarness(environment: ["ROTOR_ROTATOR": "random-password"])
        defer { harness.stop() }
        let (id, arn, original) = try await harness.secret("initial")
        #expect(await harness.emulator.invoke(LambdaHarness.event(.finishSecret, arn, original)).isSuccess)
        _ = id
        try await harness.store.putSecretValue(PutSecretValueInput(id: id, token: "11111111-0000-4000-8000-000000000000", value: SecretValue(string: "x"), stages: ["OTHER"]))
        let result = await harness.emulator.invoke(LambdaHarness.event(.setSecret, arn, "11111111-0000-4000-8000-000000000000"))
        guard case .error(_, let text) = result else { Issue.record("expected an error"); return }
        #expect(text.contains("not set as AWSPENDING"))
    }
}
