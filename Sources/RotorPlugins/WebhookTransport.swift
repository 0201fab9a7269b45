import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import RotorCore

/// The webhook rotator: each step is an HTTPS POST of the exec protocol's request, signed as the
/// Standard Webhooks specification says, answered (HTTP 200) with the exec protocol's answer.
/// 4xx is a permanent failure, 5xx and timeouts transient. TLS is verified (system roots, or
/// `ca-file`); plain HTTP only to a loopback address; redirects are never followed.
struct WebhookTransport: StepTransport {
    static let kind: RotatorKind = "webhook"
    let url: URL
    let signingKeySecret: SecretID
    let caFile: String?
    let timeout: Duration

    func exchange(_ call: StepCall, _ context: RotationContext) async throws -> StepAnswer {
        let body = try Array(JSONEncoder().encode(call.message(context, options: [:])))
        let key = try await context.store.getSecretValue(signingKeySecret, .current).value
        let id = "msg_" + UUID().uuidString.lowercased()
        let timestamp = Int(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: "\(timestamp)")
        request.headers.add(name: "webhook-signature", value: WebhookSignature(secret: key.exposedBytes).sign(id: id, timestamp: timestamp, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        let (status, answer) = try await send(request, step: call.step, context)
        let parsed = try PluginFailure.parseAnswer(answer, Self.kind, context, step: call.step)
        guard status == 200, parsed?.error == nil else {
            let failure = parsed?.error ?? StepAnswer.Failure(kind: (400..<500).contains(status) ? "permanent" : "transient", message: nil)
            throw PluginFailure.stepFailed(Self.kind, call.step, how: "HTTP \(status) from \(url.host ?? "")", failure, call.values, context)
        }
        guard let parsed else {
            throw PluginFailure.protocolError(Self.kind, "\(call.step) was answered with HTTP 200 and no JSON object", context, step: RotationStep(rawValue: call.step))
        }
        return try PluginFailure.checkShape(parsed, Self.kind, context, step: call.step)
    }

    private func send(_ request: HTTPClientRequest, step: String, _ context: RotationContext) async throws -> (Int, [UInt8]) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile { tls.trustRoots = .file(caFile) }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        // A refused connection or certificate fails the attempt at once; the engine's backoff retries it.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            try await client.shutdown()
            return (Int(response.status.code), Array(bytes.readableBytesView))
        } catch {
            try? await client.shutdown()
            if error is CancellationError { throw error }
            let what = (error as? NIOTooManyBytesError) != nil ? "more than 1 MiB" : "\(type(of: error))"
            if (error as? NIOTooManyBytesError) != nil {
                throw PluginFailure.protocolError(Self.kind, "\(step) was answered with \(what)", context, step: RotationStep(rawValue: step))
            }
            throw RotorError(.transient, "webhook \(url.host ?? "") did not answer \(step): \(Self.describe(error))", secret: context.secret,
                             step: RotationStep(rawValue: step), remedy: "check that \(url.absoluteString) is reachable and its certificate is trusted", isTransient: true)
        }
    }

    /// A transport error's description, without request contents.
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        if let error = error as? NIOSSLError { return "TLS: \(error)" }
        return "\(type(of: error))"
    }
}

extension WebhookTransport {
    static let optionHelp: [String: String] = [
        "url": "the receiver: https://..., or http:// to a loopback address only (required)",
        "signing-key-secret": "id of the secret holding the HMAC key (whsec_<base64> or raw) that signs every request (required)",
        "ca-file": "PEM file of the CA that signed the receiver's certificate (default: the system's roots)",
        "timeout": "seconds one request may take (default 30)",
        "has-target": "true (default) if the receiver changes an outside system, false if it only makes values",
        "after-set-failure": "roll-back (default) or roll-forward",
    ]

    /// The `webhook` rotator kind.
    public static var descriptor: RotatorDescriptor {
        RotatorDescriptor(
            kind: kind, summary: "each step a signed HTTPS POST of rotor.rotator/v1 (Standard Webhooks)", options: optionHelp,
            build: { options throws(RotorError) in try make(options) }, initialValue: { _, _ in nil })
    }

    static func make(_ options: RotatorOptions) throws(RotorError) -> ProtocolRotator {
        guard let text = options["url"], let url = URL(string: text), let host = url.host, url.scheme == "https" || url.scheme == "http" else {
            throw RotorError(.invalidOption, "rotator webhook needs option url=https://...")
        }
        guard url.scheme == "https" || Self.isLoopback(host) else {
            throw RotorError(.invalidOption, "webhook url \(url.absoluteString) is plain HTTP to \(host); the requests carry secret values",
                             remedy: "use https://, or plain http only to a loopback address (127.0.0.1, ::1, localhost)")
        }
        guard let keyID = options["signing-key-secret"] else { throw RotorError(.invalidOption, "rotator webhook needs option signing-key-secret=SECRET-ID") }
        let signingKeySecret = try SecretID(keyID)
        let seconds = try options["timeout"].map { text throws(RotorError) -> Int in
            guard let value = Int(text), (1...300).contains(value) else { throw RotorError(.invalidOption, "webhook timeout='\(text.prefix(20))' must be 1-300 seconds") }
            return value
        } ?? 30
        guard let direction = FailureDirection(rawValue: options["after-set-failure"] ?? "roll-back") else {
            throw RotorError(.invalidOption, "after-set-failure must be roll-back or roll-forward")
        }
        guard let hasTarget = ["true": true, "false": false][options["has-target"] ?? "true"] else {
            throw RotorError(.invalidOption, "has-target must be true or false")
        }
        return ProtocolRotator(
            kind: kind, hasTarget: hasTarget, afterSetFailure: direction,
            transport: WebhookTransport(url: url, signingKeySecret: signingKeySecret, caFile: options["ca-file"], timeout: .seconds(seconds)))
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
