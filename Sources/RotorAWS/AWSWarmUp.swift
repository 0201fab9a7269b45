import Foundation
import RotorCore

/// The Swift runtime does one-time work the first time a program uses a type (metadata, protocol
/// conformance look-ups for casts): on a cold Lambda start that work would sit on the first
/// invocation's path. ``warmUp()`` does it on canned data while the function waits for its first
/// event. No network call, no credential, no secret value.
public enum AWSWarmUp {
    public static func warmUp() {
        let signer = SigV4Signer(region: "us-east-1", service: "secretsmanager")
        let request = SigV4Signer.Request(method: "POST", path: "/", headers: [
            ("Content-Type", "application/x-amz-json-1.1"), ("Host", "localhost"), ("X-Amz-Target", "secretsmanager.DescribeSecret"),
        ], body: Array(#"{"SecretId":"/warm/up/api-key/x"}"#.utf8))
        _ = signer.sign(request, credentials: AWSCredentials(accessKeyID: "AKIAWARMUP", secretAccessKey: "warm-up-only"), date: Date())
        _ = try? JSONSerialization.data(withJSONObject: ["SecretId": "x", "ClientRequestToken": "t", "VersionStages": ["AWSPENDING"]], options: [.sortedKeys])
        let describe = SecretsManagerResponse(body: Data(#"""
            {"ARN":"arn:aws:secretsmanager:us-east-1:000000000000:secret:x","Name":"/warm/up/api-key/x","RotationEnabled":true,
             "VersionIdsToStages":{"a":["AWSCURRENT"],"b":["AWSPENDING"]},"CreatedDate":1700000000.5,"LastChangedDate":1700000000,
             "Tags":[{"Key":"rotor:rotator","Value":"random-password"}]}
            """#.utf8), requestID: nil).object()
        if let id = try? SecretID("/warm/up/api-key/x") { _ = AWSSecretStore.description(describe, id: id) }
        _ = SecretsManagerResponse(body: Data(#"{"ARN":"x","Name":"x","VersionId":"b","VersionStages":["AWSPENDING"]}"#.utf8), requestID: nil).object()
        _ = AWSErrorResponse.parse(
            status: 400, headerType: nil, body: Array(#"{"__type":"ResourceNotFoundException","message":"warm up"}"#.utf8), requestID: nil
        ).rotorError(operation: "GetSecretValue", secret: nil)
    }
}
