import Foundation
import NIOSSL
import Synchronization

/// A loopback HTTPS stand-in for Anthropic's `GET /v1/models`, with its own CA: it requires
/// `x-api-key` and `anthropic-version`, answers 401 `authentication_error` in Anthropic's error
/// envelope for an unknown or disabled key, and 429/529 when scripted.
public final class AnthropicStandIn: Sendable {
    /// Keys that work.
    public let active = Mutex<Set<String>>([])
    /// Statuses to answer the next requests with.
    public let scripted = Mutex<[Int]>([])
    public private(set) nonisolated(unsafe) var server: LoopbackHTTPServer!
    /// The CA file that verifies the server's certificate.
    public let caFile: String

    public init(directory: URL) async throws {
        let made = try await SelfSignedCertificate.make(in: directory)
        caFile = made.certificatePath
        let tls = try NIOSSLContext(configuration: .makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(made.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: made.keyPath, format: .pem))))
        server = try await LoopbackHTTPServer(tls: tls) { request in self.handle(request) }
    }

    public var url: URL { server.url }
    public func close() async { try? await server.close() }

    func handle(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Reply {
        if let status = scripted.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return envelope(status, status == 529 ? "overloaded_error" : "rate_limit_error") }
        guard request.head.uri.hasPrefix("/v1/models"), request.head.method == .GET else { return envelope(404, "not_found_error") }
        guard request.head.headers.first(name: "anthropic-version") == "2023-06-01" else { return envelope(400, "invalid_request_error") }
        guard let key = request.head.headers.first(name: "x-api-key"), active.withLock({ $0.contains(key) }) else { return envelope(401, "authentication_error") }
        return .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"data":[],"has_more":false}"#.utf8))
    }

    func envelope(_ status: Int, _ type: String) -> LoopbackHTTPServer.Reply {
        .respond(status: status, headers: [("Content-Type", "application/json")],
                 body: Array(#"{"type":"error","error":{"type":"\#(type)","message":"invalid x-api-key"},"request_id":"req_1"}"#.utf8))
    }
}
