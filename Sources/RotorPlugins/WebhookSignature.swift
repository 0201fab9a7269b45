import Crypto
import Foundation

/// Signatures of the Standard Webhooks specification: `webhook-signature: v1,<base64 HMAC-SHA256>`
/// over `"<webhook-id>.<webhook-timestamp>.<body>"`, with a key given as `whsec_<base64>` (or as raw bytes).
public struct WebhookSignature: Sendable {
    let key: SymmetricKey

    /// A key from the signing secret's value: `whsec_` followed by base64, else the bytes as they are.
    public init(secret: [UInt8]) {
        let text = String(decoding: secret, as: UTF8.self)
        if text.hasPrefix("whsec_"), let decoded = Data(base64Encoded: String(text.dropFirst(6))) {
            key = SymmetricKey(data: decoded)
        } else {
            key = SymmetricKey(data: secret)
        }
    }

    /// The `webhook-signature` header value for one message.
    public func sign(id: String, timestamp: Int, body: [UInt8]) -> String {
        "v1," + Data(mac(id: id, timestamp: timestamp, body: body)).base64EncodedString()
    }

    /// Whether any `v1,` signature of a space-separated header matches (compared in constant time).
    public func verify(id: String, timestamp: Int, body: [UInt8], header: String) -> Bool {
        let expected = mac(id: id, timestamp: timestamp, body: body)
        return header.split(separator: " ").contains { candidate in
            guard candidate.hasPrefix("v1,"), let given = Data(base64Encoded: String(candidate.dropFirst(3))) else { return false }
            return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.content(id, timestamp, body), using: key) && given.count == expected.count
        }
    }

    private func mac(id: String, timestamp: Int, body: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.content(id, timestamp, body), using: key))
    }

    private static func content(_ id: String, _ timestamp: Int, _ body: [UInt8]) -> [UInt8] {
        Array("\(id).\(timestamp).".utf8) + body
    }
}
