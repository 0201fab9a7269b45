import AsyncHTTPClient
import Foundation
import NIOCore
import RotorCore

/// Lambda's `GetFunctionConfiguration` (REST: `GET /2015-03-31/functions/NAME/configuration`,
/// SigV4 service `lambda`), for the one thing rotor needs: a function's environment variables, to
/// move them into secrets. The values it returns go into ``SecretValue`` at once.
public struct LambdaConfigurationReader: Sendable {
    let endpoint: URL
    let region: String
    let credentials: any AWSCredentialProvider
    let http: HTTPClient

    /// The endpoint from `AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL`, else Lambda's in the region.
    public init(region: String, credentials: any AWSCredentialProvider, environment: [String: String], http: HTTPClient = .withoutRedirects) throws {
        let text = environment["AWS_ENDPOINT_URL_LAMBDA"] ?? environment["AWS_ENDPOINT_URL"] ?? "https://lambda.\(region).amazonaws.com"
        guard let url = URL(string: text), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw RotorError(.invalidParameter, "Lambda endpoint URL '\(text.prefix(200))' is not an http(s) URL")
        }
        endpoint = url
        self.region = region
        self.credentials = credentials
        self.http = http
    }

    /// The function's environment variables, each value redacting.
    public func environmentVariables(of function: String) async throws -> [String: SecretValue] {
        guard !function.isEmpty, function.utf8.count <= 170,
              function.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_:.$".unicodeScalars.contains($0)) }) else {
            throw RotorError(.invalidParameter, "'\(function.printable(limit: 80))' is not a Lambda function name or ARN")
        }
        let encoded = function.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.")))!
        let path = "/2015-03-31/functions/\(encoded)/configuration"
        let host = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        let signed = SigV4Signer(region: region, service: "lambda").sign(
            SigV4Signer.Request(method: "GET", path: path, headers: [("Host", host)], body: []), credentials: try await credentials.credentials(), date: Date())
        var request = HTTPClientRequest(url: endpoint.absoluteString.trimmingSuffix("/") + path)
        for (name, value) in signed.headers { request.headers.add(name: name, value: value) }
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(15))
            body = try await response.body.collect(upTo: 4 << 20)
        } catch {
            throw RotorError(.transient, "Lambda GetFunctionConfiguration did not complete (\(type(of: error)))", isTransient: true)
        }
        let data = Array(body.readableBytesView)
        guard response.status.code == 200 else {
            let fault = AWSErrorResponse.parse(status: Int(response.status.code), headerType: response.headers.first(name: "X-Amzn-Errortype"),
                                               body: data, requestID: response.headers.first(name: "x-amzn-RequestId"))
            throw fault.rotorError(operation: "GetFunctionConfiguration", secret: nil, service: "Lambda")
        }
        let json = try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any]
        let variables = (json?["Environment"] as? [String: Any])?["Variables"] as? [String: String] ?? [:]
        return variables.mapValues { SecretValue(string: $0) }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
