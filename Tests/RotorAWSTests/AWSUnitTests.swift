import Foundation
import RotorTestSupport
import Testing
@testable import RotorAWS
import RotorCore

@Suite struct AWSErrorParsingTests {
    @Test(arguments: [
        (400, #"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#, RotorError.Code.secretNotFound, false),
        (404, #"{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret value for staging label: AWSPENDING"}"#, .versionNotFound, false),
        (400, #"{"__type":"com.amazonaws.secretsmanager#InvalidParameterException:http://internal","message":"bad"}"#, .invalidParameter, false),
        (400, #"{"__type":"InvalidRequestException","message":"You provided a VersionStage that is not associated to the provided VersionId."}"#, .versionNotFound, false),
        (400, #"{"__type":"InvalidRequestException","message":"A previous rotation isn't complete."}"#, .invalidRequest, false),
        (400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#, .transient, true),
        (500, #"{"__type":"InternalServiceError","Message":"boom"}"#, .transient, true),
        (503, "", .transient, true),
        (429, "{}", .transient, true),
        (400, #"{"__type":"AccessDeniedException","Message":"not allowed"}"#, .accessDenied, false),
        (400, #"{"__type":"InvalidSignatureException","message":"Signature expired: 20251105T220858Z is now earlier than 20251106T132108Z"}"#, .authenticationFailed, false),
        (403, #"<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></Errors></ErrorResponse>"#, .authenticationFailed, false),
        (400, #"{"__type":"LimitExceededException","message":"too many versions"}"#, .invalidRequest, false),
        (400, #"{"code":"ResourceExistsException","message":"exists"}"#, .tokenInUse, false),
    ])
    func errorsAreParsedAndClassified(status: Int, body: String, code: RotorError.Code, retryable: Bool) {
        let parsed = AWSErrorResponse.parse(status: status, headerType: nil, body: Array(body.utf8), requestID: "req-1")
        let error = parsed.rotorError(operation: "PutSecretValue", secret: nil)
        #expect(error.code == code)
        #expect(error.isTransient == retryable)
        #expect(parsed.isRetryable == retryable)
    }

    @Test func clockSkewGetsItsOwnAdvice() {
        let parsed = AWSErrorResponse.parse(status: 400, headerType: nil, body: Array(#"{"__type":"InvalidSignatureException","message":"Signature expired"}"#.utf8), requestID: nil)
        #expect(parsed.rotorError(operation: "GetSecretValue", secret: nil).remedy?.contains("clock") == true)
    }

    @Test func theHeaderTypeIsUsedWhenTheBodyHasNone() {
        let parsed = AWSErrorResponse.parse(status: 400, headerType: "ThrottlingException", body: [], requestID: nil)
        #expect(parsed.type == "ThrottlingException" && parsed.isRetryable)
    }

    @Test(arguments: [(1, 0.5, Duration.milliseconds(50)), (2, 1.0, .milliseconds(200)), (10, 1.0, .seconds(5)), (3, 0.0, .zero)])
    func fullJitterBackoff(attempt: Int, unit: Double, expected: Duration) {
        #expect(AWSRetryPolicy(base: .milliseconds(100), cap: .seconds(5)).delay(afterAttempt: attempt, unit: unit) == expected)
    }
}

@Suite struct RateLimiterTests {
    @Test func burstsThenPacesAtTheRate() async throws {
        let clock = TestClock()
        let limiter = RateLimiter(perSecond: 50, clock: clock)
        for _ in 0..<60 { try await limiter.acquire() }
        // 50 immediately, the next 10 at 20 ms each.
        let waited = clock.sleeps.reduce(Duration.zero, +)
        #expect(waited >= .milliseconds(200) && waited <= .milliseconds(220))
    }
}

@Suite struct AWSSettingsTests {
    func files(_ credentials: String, _ config: String) throws -> [String: String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try credentials.write(to: directory.appendingPathComponent("credentials"), atomically: true, encoding: .utf8)
        try config.write(to: directory.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        return ["AWS_SHARED_CREDENTIALS_FILE": directory.appendingPathComponent("credentials").path,
                "AWS_CONFIG_FILE": directory.appendingPathComponent("config").path, "HOME": directory.path]
    }

    static let credentialsFile = """
        [default]
        aws_access_key_id = AKIADEFAULT
        aws_secret_access_key = default-secret

        [ops]
        aws_access_key_id=AKIAOPS
        aws_secret_access_key=ops-secret
        aws_session_token = ops-token
        """
    static let configFile = """
        [default]
        region = eu-west-1
        [profile ops]
        region = us-west-2
        endpoint_url = https://vpce-123.secretsmanager.us-west-2.vpce.amazonaws.com
        """

    @Test func environmentWinsOverTheProfile() async throws {
        var env = try files(Self.credentialsFile, Self.configFile)
        env["AWS_ACCESS_KEY_ID"] = "AKIAENV"
        env["AWS_SECRET_ACCESS_KEY"] = "env-secret"
        env["AWS_REGION"] = "ap-south-1"
        let settings = try AWSSettings.resolve(region: nil, profile: nil, endpointURL: nil, environment: env)
        #expect(settings.region == "ap-south-1")
        #expect(settings.endpoint.absoluteString == "https://secretsmanager.ap-south-1.amazonaws.com")
        #expect(try await settings.credentials.credentials().accessKeyID == "AKIAENV")
    }

    @Test func theDefaultProfileIsUsedWithoutEnvironmentKeys() async throws {
        let settings = try AWSSettings.resolve(region: nil, profile: nil, endpointURL: nil, environment: try files(Self.credentialsFile, Self.configFile))
        #expect(settings.region == "eu-west-1")
        #expect(try await settings.credentials.credentials() == AWSCredentials(accessKeyID: "AKIADEFAULT", secretAccessKey: "default-secret"))
    }

    @Test func aNamedProfileBringsItsRegionEndpointAndSessionToken() async throws {
        var env = try files(Self.credentialsFile, Self.configFile)
        env["AWS_ACCESS_KEY_ID"] = "AKIAENV-IGNORED-WITH-PROFILE"
        env["AWS_SECRET_ACCESS_KEY"] = "x"
        let settings = try AWSSettings.resolve(region: nil, profile: "ops", endpointURL: nil, environment: env)
        #expect(settings.region == "us-west-2")
        #expect(settings.endpoint.host == "vpce-123.secretsmanager.us-west-2.vpce.amazonaws.com")
        #expect(try await settings.credentials.credentials() == AWSCredentials(accessKeyID: "AKIAOPS", secretAccessKey: "ops-secret", sessionToken: "ops-token"))
    }

    @Test func endpointOverridesFollowThePrecedence() throws {
        var env = try files(Self.credentialsFile, Self.configFile)
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1111"
        #expect(try AWSSettings.resolve(region: nil, profile: nil, endpointURL: nil, environment: env).endpoint.port == 1111)
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://127.0.0.1:2222"
        #expect(try AWSSettings.resolve(region: nil, profile: nil, endpointURL: nil, environment: env).endpoint.port == 2222)
        #expect(try AWSSettings.resolve(region: nil, profile: nil, endpointURL: "http://127.0.0.1:3333", environment: env).endpoint.port == 3333)
    }

    @Test func missingRegionAndBadEndpointsAreClearErrors() throws {
        let env = try files("", "")
        #expect { try AWSSettings.resolve(region: nil, profile: nil, endpointURL: nil, environment: env) } throws: { "\($0)".contains("no AWS region") }
        #expect { try AWSSettings.resolve(region: "us-east-1", profile: nil, endpointURL: "ftp://x", environment: env) } throws: { "\($0)".contains("not an http(s) URL") }
    }

    @Test func noCredentialsAnywhereIsAClearError() async throws {
        let settings = try AWSSettings.resolve(region: "us-east-1", profile: nil, endpointURL: nil, environment: try files("", ""))
        await #expect { try await settings.credentials.credentials() } throws: { "\($0)".contains("AWS credentials: none found") }
    }
}

/// The container credentials endpoint, served on loopback.
@Suite struct ContainerCredentialsTests {
    @Test func credentialsAreFetchedWithTheTokenAndRefreshedBeforeExpiry() async throws {
        let clock = TestClock(Date(timeIntervalSince1970: 1_800_000_000))
        let calls = Counter()
        let server = try await LoopbackHTTPServer { request in
            let number = calls.next()
            guard request.head.headers.first(name: "Authorization") == "container-token" else {
                return .respond(status: 401, headers: [], body: [])
            }
            let expiration = Date(timeIntervalSince1970: 1_800_000_000 + 3600).formatted(.iso8601)
            let body = #"{"AccessKeyId":"ASIA\#(number)","SecretAccessKey":"s","Token":"t","Expiration":"\#(expiration)"}"#
            return .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
        }
        defer { Task { try? await server.close() } }
        let provider = try ContainerCredentialProvider(environment: [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url.absoluteString + "/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container-token",
        ], clock: clock)
        #expect(try await provider.credentials().accessKeyID == "ASIA1")
        clock.advance(by: 3000) // 10 minutes before expiry: still cached
        #expect(try await provider.credentials().accessKeyID == "ASIA1")
        clock.advance(by: 400) // inside the 5-minute refresh margin
        #expect(try await provider.credentials().accessKeyID == "ASIA2")
    }

    @Test func aRejectedRequestIsAClearError() async throws {
        let server = try await LoopbackHTTPServer { _ in .respond(status: 403, headers: [], body: []) }
        defer { Task { try? await server.close() } }
        let provider = try ContainerCredentialProvider(environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url.absoluteString])
        await #expect { try await provider.credentials() } throws: { "\($0)".contains("HTTP 403") }
    }
}

final class Counter: Sendable {
    private let value = Synchronization.Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}

import Synchronization

@Suite struct RetryNestingTests {
    /// The client's retries nest inside a step attempt, which is cancelled at the step timeout: with
    /// the defaults, one call with all its retries ends before that.
    @Test func oneCallWithAllItsRetriesFitsInADefaultStepAttempt() throws {
        let client = SecretsManagerClient(
            endpoint: URL(string: "http://127.0.0.1:1")!, region: "us-east-1",
            credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "x")))
        #expect(client.worstCaseCallDuration == .milliseconds(41_500))
        #expect(client.worstCaseCallDuration < EngineConfiguration().stepTimeout)
    }

    @Test(arguments: [(Backoff.Jitter.none, 0.3, Duration.seconds(4)), (.equal, 0.0, .seconds(2)), (.equal, 1.0, .seconds(4)), (.full, 0.25, .seconds(1))])
    func oneBackoffFormulaWithThreeJitters(jitter: Backoff.Jitter, unit: Double, expected: Duration) {
        #expect(Backoff(initial: .seconds(1), maximum: .seconds(60), jitter: jitter).delay(afterAttempt: 3, unit: unit) == expected)
    }
}
