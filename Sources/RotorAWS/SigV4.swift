import Crypto
import Foundation

/// AWS Signature Version 4 for header-signed requests.
public struct SigV4Signer: Sendable {
    public let region: String
    public let service: String

    public init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// A request to sign: headers in order (duplicates allowed), the raw path and query, the exact body bytes.
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)], body: [UInt8]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }
    }

    /// Adds `X-Amz-Date`, `X-Amz-Security-Token` (temporary credentials) and `Authorization`.
    public func sign(_ request: Request, credentials: AWSCredentials, date: Date) -> Request {
        var signed = request
        let stamp = Self.timestamp(date)
        signed.headers.removeAll { ["authorization", "x-amz-date"].contains($0.name.lowercased()) }
        signed.headers.append(("X-Amz-Date", stamp.full))
        if let token = credentials.sessionToken, !signed.headers.contains(where: { $0.name.lowercased() == "x-amz-security-token" }) {
            signed.headers.append(("X-Amz-Security-Token", token))
        }
        signed.headers.append(("Authorization", authorization(signed, credentials: credentials, stamp: stamp)))
        return signed
    }

    func authorization(_ request: Request, credentials: AWSCredentials, stamp: (full: String, day: String)) -> String {
        let (canonical, signedHeaders) = canonicalRequest(request)
        let scope = "\(stamp.day)/\(region)/\(service)/aws4_request"
        let toSign = ["AWS4-HMAC-SHA256", stamp.full, scope, SHA256.hash(data: Array(canonical.utf8)).hexString].joined(separator: "\n")
        let signature = HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: signingKey(credentials, day: stamp.day)).hexString
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// The canonical request and the signed-headers list.
    public func canonicalRequest(_ request: Request) -> (String, String) {
        var grouped: [String: [String]] = [:]
        for (name, value) in request.headers where !Self.unsignedHeaders.contains(name.lowercased()) {
            grouped[name.lowercased(), default: []].append(Self.trimmed(value))
        }
        let names = grouped.keys.sorted()
        let headerLines = names.map { "\($0):\(grouped[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonical = [
            request.method.uppercased(), Self.canonicalPath(request.path), Self.canonicalQuery(request.query),
            headerLines, signedHeaders, SHA256.hash(data: request.body).hexString,
        ].joined(separator: "\n")
        return (canonical, signedHeaders)
    }

    func signingKey(_ credentials: AWSCredentials, day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// Headers never signed (they change in transit), as botocore does.
    static let unsignedHeaders: Set<String> = [
        "authorization", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    ]

    static func trimmed(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func canonicalPath(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." { _ = segments.popLast(); continue }
            segments.append(segment)
        }
        let encoded = segments.map { uriEncode(String($0)) }.joined(separator: "/")
        let trailing = path.hasSuffix("/") && !segments.isEmpty ? "/" : ""
        return "/" + encoded + trailing
    }

    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { item -> (String, String) in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (uriEncode(String(parts[0])), uriEncode(parts.count > 1 ? String(parts[1]) : ""))
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// RFC 3986 encoding: unreserved characters stay, every other byte becomes %XX.
    static func uriEncode(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if byte < 0x80, scalar.properties.isASCIIHexDigit || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || "-._~".unicodeScalars.contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else {
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC, computed with the C library (no ICU: cheap on every request and at start-up).
    static func timestamp(_ date: Date) -> (full: String, day: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let full = String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                          Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        return (full, String(full.prefix(8)))
    }
}
