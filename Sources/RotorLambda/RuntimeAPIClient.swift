import AsyncHTTPClient
import Foundation
import NIOCore
import RotorCore

/// One invocation handed to the function.
public struct Invocation: Sendable {
    public let requestID: String
    public let deadline: Date?
    public let functionARN: String?
    public let payload: [UInt8]

    public init(requestID: String, deadline: Date?, functionARN: String?, payload: [UInt8]) {
        self.requestID = requestID
        self.deadline = deadline
        self.functionARN = functionARN
        self.payload = payload
    }
}

/// What the function needs of Lambda's runtime: the HTTP Runtime API in production, an in-memory
/// queue in tests (so the loop and the step handling run in-process against the in-memory store).
public protocol LambdaRuntime: Sendable {
    /// Waits for the next invocation.
    func next() async throws -> Invocation
    func respond(_ requestID: String, json: String) async throws
    func fail(_ requestID: String, type: String, message: String) async throws
    func initFailed(type: String, message: String) async throws
}

/// The Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`): fetch the next invocation, post its response
/// or error, or report an initialisation error.
public struct RuntimeAPIClient: LambdaRuntime {
    let base: String
    let http: HTTPClient

    public init(runtimeAPI: String, http: HTTPClient = .shared) {
        base = "http://\(runtimeAPI)/2018-06-01/runtime"
        self.http = http
    }

    /// Waits for the next invocation (long poll).
    public func next() async throws -> Invocation {
        let response = try await http.execute(HTTPClientRequest(url: "\(base)/invocation/next"), timeout: .hours(24))
        let body = try await response.body.collect(upTo: 6 * 1024 * 1024)
        guard response.status.code == 200, let requestID = response.headers.first(name: "Lambda-Runtime-Aws-Request-Id") else {
            throw RotorError(.remoteFailure, "the Runtime API answered HTTP \(response.status.code) without a request id")
        }
        let deadline = response.headers.first(name: "Lambda-Runtime-Deadline-Ms").flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
        return Invocation(requestID: requestID, deadline: deadline, functionARN: response.headers.first(name: "Lambda-Runtime-Invoked-Function-Arn"),
                          payload: Array(body.readableBytesView))
    }

    public func respond(_ requestID: String, json: String) async throws {
        try await post("\(base)/invocation/\(requestID)/response", body: json)
    }

    public func fail(_ requestID: String, type: String, message: String) async throws {
        try await post("\(base)/invocation/\(requestID)/error", body: Self.errorJSON(type: type, message: message), errorType: type)
    }

    public func initFailed(type: String, message: String) async throws {
        try await post("\(base)/init/error", body: Self.errorJSON(type: type, message: message), errorType: type)
    }

    static func errorJSON(type: String, message: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: ["errorType": type, "errorMessage": message], options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func post(_ url: String, body: String, errorType: String? = nil) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let errorType { request.headers.add(name: "Lambda-Runtime-Function-Error-Type", value: errorType) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await http.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1024 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw RotorError(.remoteFailure, "the Runtime API answered HTTP \(response.status.code) to \(url.split(separator: "/").suffix(2).joined(separator: "/"))")
        }
    }
}
