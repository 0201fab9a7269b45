import Foundation
import RotorTestSupport
import Testing
@testable import RotorAWS

/// The published SigV4 test suite (header signing) and known answers for Secrets Manager requests.
@Suite struct SigV4Tests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let date = Date(timeIntervalSince1970: 1_440_938_160) // 2015-08-30T12:36:00Z

    static var vectorNames: [String] {
        let directory = Bundle.module.url(forResource: "SigV4Vectors", withExtension: nil)!
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".txt") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// Parses a signed request file: request line, headers (without Authorization and X-Amz-Date), body, expected Authorization.
    static func load(_ name: String) throws -> (SigV4Signer.Request, String) {
        let url = Bundle.module.url(forResource: "SigV4Vectors", withExtension: nil)!.appendingPathComponent("\(name).txt")
        let text = try String(contentsOf: url, encoding: .utf8)
        let (head, body) = text.range(of: "\n\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) } ?? (text, "")
        var lines = head.split(separator: "\n").map(String.init)
        let requestLine = lines.removeFirst().split(separator: " ")
        let target = String(requestLine[1])
        let (path, query) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) } ?? (target, "")
        var headers: [(name: String, value: String)] = []
        var expected = ""
        for line in lines {
            let colon = line.firstIndex(of: ":")!
            let (name, value) = (String(line[..<colon]), String(line[line.index(after: colon)...]))
            switch name.lowercased() {
            case "authorization": expected = value
            case "x-amz-date", "x-amz-security-token": continue
            default: headers.append((name, value))
            }
        }
        return (SigV4Signer.Request(method: String(requestLine[0]), path: path, query: query, headers: headers, body: Array(body.utf8)), expected)
    }

    @Test func theSuiteIsPresent() { #expect(Self.vectorNames.count >= 14) }

    @Test(arguments: vectorNames)
    func signatureMatchesTheTestSuite(name: String) throws {
        let (request, expected) = try Self.load(name)
        let session = name.contains("session-token") ? "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267" : nil
        let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: Self.credentials.secretAccessKey, sessionToken: session)
        let signed = SigV4Signer(region: "us-east-1", service: "service").sign(request, credentials: credentials, date: Self.date)
        #expect(signed.headers.first { $0.name == "Authorization" }?.value == expected)
        #expect(signed.headers.first { $0.name == "X-Amz-Date" }?.value == "20150830T123600Z")
    }

    /// A GetSecretValue request signed as botocore signs it (content-type;host;x-amz-date;x-amz-target),
    /// checked against botocore 1.43.11's SigV4Auth signing the same request at the same instant.
    @Test func secretsManagerKnownAnswer() {
        let body = Array(#"{"SecretId": "wire1"}"#.utf8)
        let request = SigV4Signer.Request(method: "POST", path: "/", headers: [
            ("Content-Type", "application/x-amz-json-1.1"), ("Host", "secretsmanager.us-east-1.amazonaws.com"),
            ("X-Amz-Target", "secretsmanager.GetSecretValue"),
        ], body: body)
        let signer = SigV4Signer(region: "us-east-1", service: "secretsmanager")
        let date = Date(timeIntervalSince1970: 1_795_930_638) // 2026-11-29T05:37:18Z
        let signed = signer.sign(request, credentials: Self.credentials, date: date)
        let (canonical, signedHeaders) = signer.canonicalRequest(signed)
        #expect(signedHeaders == "content-type;host;x-amz-date;x-amz-target")
        #expect(canonical.hasPrefix("POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:secretsmanager.us-east-1.amazonaws.com\nx-amz-date:20261129T053718Z\nx-amz-target:secretsmanager.GetSecretValue\n"))
        #expect(signed.headers.last?.value == Self.secretsManagerExpected)
    }

    static let secretsManagerExpected = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=4695cc1428bd5cda70192799f981b4d9901169ec001c04209ea74e9032ed36ca"

    @Test func credentialsRedactTheirSecrets() {
        let credentials = AWSCredentials(accessKeyID: "AKIDVISIBLE", secretAccessKey: "CANARY-secret-key", sessionToken: "CANARY-session")
        var dumped = ""
        dump(credentials, to: &dumped)
        for text in ["\(credentials)", String(reflecting: credentials), dumped] {
            #expect(!text.contains("CANARY") && text.contains("AKIDVISIBLE"))
        }
    }
}
