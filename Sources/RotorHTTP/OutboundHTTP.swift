import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import RotorCore

/// One HTTP answer, body capped.
public struct OutboundResponse: Sendable {
    public let status: Int
    public let headers: HTTPHeaders
    public let body: [UInt8]

    public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The body as a JSON object, or `nil`.
    public var jsonObject: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
}

/// Why a request got no answer; never carries request contents.
public enum OutboundFailure: Error, Sendable, CustomStringConvertible {
    /// The answer was larger than the cap.
    case tooLarge(limit: Int)
    /// No answer: refused, reset, TLS refused, timed out.
    case transport(String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "an answer of more than \(limit) bytes"
        case .transport(let what): what
        }
    }
}

/// rotor's one way to send a credential over HTTP(S): TLS verified against the system's roots or a
/// CA file, redirects never followed (a redirect could carry the credential elsewhere), a timeout per
/// request and a cap on the answer. Where a request may go is ``OutboundURL``'s rule.
public struct OutboundHTTP: Sendable {
    public var caFile: String?
    public var timeout: Duration
    public var maxResponseBytes: Int
    public var userAgent: String

    public static let defaultUserAgent = "rotor/1"

    public init(caFile: String? = nil, timeout: Duration = .seconds(30), maxResponseBytes: Int = 1 << 20, userAgent: String = Self.defaultUserAgent) {
        self.caFile = caFile
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
    }

    /// Sends one request and collects the answer.
    public func send(_ method: HTTPMethod, _ url: URL, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> OutboundResponse {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "User-Agent", value: userAgent)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration())
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let bytes = try await response.body.collect(upTo: maxResponseBytes)
            try await client.shutdown()
            return OutboundResponse(status: Int(response.status.code), headers: response.headers, body: Array(bytes.readableBytesView))
        } catch {
            try? await client.shutdown()
            if error is CancellationError { throw error }
            if error is NIOTooManyBytesError { throw OutboundFailure.tooLarge(limit: maxResponseBytes) }
            throw OutboundFailure.transport(Self.describe(error))
        }
    }

    func configuration() -> HTTPClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        tls.minimumTLSVersion = .tlsv12
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        // The request's deadline ends with the response head; a body trickled after it is bounded here.
        configuration.timeout = .init(connect: .nanoseconds(Int64(timeout.seconds * 1e9)), read: .nanoseconds(Int64(timeout.seconds * 1e9)))
        configuration.redirectConfiguration = .disallow
        // A refused connection or certificate fails the attempt at once; the engine's backoff retries it.
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// A transport error's description, without request contents.
    public static func describe(_ error: any Error) -> String {
        // shortDescription: the full one may quote a refused header's value (a credential).
        if let error = error as? HTTPClientError { return error.shortDescription }
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        return "\(type(of: error))"
    }
}
