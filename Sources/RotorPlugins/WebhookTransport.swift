import Foundation
import NIOCore
import NIOHTTP1
import RotorCore
import RotorHTTP

/// The webhook rotator: each step is an HTTPS POST of the exec protocol's request, signed as the
/// Standard Webhooks specification says, answered (HTTP 200) with the exec protocol's answer.
/// 4xx is a permanent failure, 5xx and timeouts transient. TLS is verified (system roots, or
/// `ca-file`); plain HTTP only to a loopback address; redirects are never followed.
struct WebhookTransport: StepTransport {
    static let kind: RotatorKind = "webhook"
    let url: OutboundURL
    let signingKeySecret: SecretID
    let caFile: String?
    let timeout: Duration
    var secretsUsed: [SecretUse] { [SecretUse(secret: signingKeySecret.rawValue, why: "the webhook plug-in's requests are signed with it (signing-key-secret)")] }

    func exchange(_ call: StepCall, _ context: RotationContext) async throws -> StepAnswer {
        let body = try Array(JSONEncoder().encode(call.message(context, options: [:])))
        let key = try await context.store.getSecretValue(signingKeySecret, .current).value
        let id = "msg_" + UUID().uuidString.lowercased()
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            ("Content-Type", "application/json"), ("webhook-id", id), ("webhook-timestamp", "\(timestamp)"),
            ("webhook-signature", WebhookSignature(secret: key.exposedBytes).sign(id: id, timestamp: timestamp, body: body)),
        ]
        let (status, answer) = try await send(body, headers: headers, step: call.step, context)
        let parsed = try PluginFailure.parseAnswer(answer, Self.kind, context, step: call.step)
        guard status == 200, parsed?.error == nil else {
            let failure = parsed?.error ?? StepAnswer.Failure(kind: (400..<500).contains(status) ? "permanent" : "transient", message: nil)
            throw PluginFailure.stepFailed(Self.kind, call.step, how: "HTTP \(status) from \(url.host)", failure, call.values, context)
        }
        guard let parsed else {
            throw PluginFailure.protocolError(Self.kind, "\(call.step) was answered with HTTP 200 and no JSON object", context, step: RotationStep(rawValue: call.step))
        }
        return try PluginFailure.checkShape(parsed, Self.kind, context, step: call.step)
    }

    private func send(_ body: [UInt8], headers: [(String, String)], step: String, _ context: RotationContext) async throws -> (Int, [UInt8]) {
        do {
            let response = try await OutboundHTTP(caFile: caFile, timeout: timeout).send(.POST, url.url, headers: headers, body: body)
            return (response.status, response.body)
        } catch OutboundFailure.tooLarge {
            throw PluginFailure.protocolError(Self.kind, "\(step) was answered with more than 1 MiB", context, step: RotationStep(rawValue: step))
        } catch let failure as OutboundFailure {
            throw RotorError(.transient, "webhook \(url.host) did not answer \(step): \(failure)", secret: context.secret,
                             step: RotationStep(rawValue: step), remedy: "check that \(url) is reachable and its certificate is trusted", isTransient: true)
        }
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
        guard let text = options["url"] else { throw RotorError(.invalidOption, "rotator webhook needs option url=https://...") }
        let url = try OutboundURL(text, option: "url", kind: kind)
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
}
