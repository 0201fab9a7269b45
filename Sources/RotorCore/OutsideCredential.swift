import struct Foundation.Data
import class Foundation.JSONSerialization

/// Recognises a value that belongs to a system outside the store: AWS's database secret JSON, a
/// GitHub token, a Cognito app client's secret, an Anthropic key. A rotator without a target that
/// makes its own values would "rotate" such a secret to a string its system does not know.
public enum OutsideCredential {
    /// What `value` shows, in words that quote no part of it; `nil` when nothing is recognised.
    /// Text and binary values, JSON objects and arrays at any depth (up to 8 levels), and JSON strings.
    public static func recognise(_ value: SecretValue) -> String? {
        let text = value.exposedString ?? value.withBytes { String(decoding: $0, as: UTF8.self) }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            return token(text).map { "the value is \($0)" }
        }
        return recognise(parsed, path: nil, depth: 0)
    }

    static func recognise(_ node: Any, path: String?, depth: Int) -> String? {
        guard depth <= 8 else { return nil }
        if let text = node as? String { return token(text).map { "\(path.map { "field \($0)" } ?? "the value") is \($0)" } }
        if let list = node as? [Any] { return list.lazy.compactMap { recognise($0, path: path, depth: depth + 1) }.first }
        guard let object = node as? [String: Any] else { return nil }
        if object["engine"] is String, object["host"] is String { return "\(path.map { "field \($0)" } ?? "the value") is AWS's database secret JSON (engine, host): a database login" }
        if object["userPoolId"] is String, object["clientId"] is String { return "\(path.map { "field \($0)" } ?? "the value") names a Cognito user pool and app client (userPoolId, clientId)" }
        for key in object.keys.sorted() {
            if let found = recognise(object[key]!, path: printable(key), depth: depth + 1) { return found }
        }
        return nil
    }

    /// A key from the value as it may appear in a message: plain names only (a key could carry line
    /// breaks or terminal escapes into logs).
    static func printable(_ key: String) -> String {
        key.count <= 64 && !key.isEmpty && key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) ? key : "(a field)"
    }

    static let prefixes: [(String, String)] = [
        ("ghp_", "a GitHub personal access token"), ("github_pat_", "a GitHub personal access token"),
        ("gho_", "a GitHub OAuth token"), ("ghu_", "a GitHub App user token"), ("ghs_", "a GitHub App installation token"),
        ("ghr_", "a GitHub refresh token"), ("sk-ant-", "an Anthropic API key"),
    ]

    static func token(_ text: String) -> String? {
        let trimmed = text.drop { $0.isWhitespace || $0 == "\u{FEFF}" || $0 == "\u{200B}" }
        return prefixes.first { trimmed.hasPrefix($0.0) }?.1
    }

    /// Whether the guard applies to this rotator and options: it makes its own values and tells no
    /// outside system about them, and the options do not say `value-only=true`.
    public static func guards(_ rotator: any Rotator, options: RotatorOptions) -> Bool {
        !rotator.tellsTheCredentialsSystem && !rotator.valueComesFromOperator && options[RotatorDescriptor.valueOnly] != "true"
    }

    /// The refusal for `value` under a rotator the guard applies to, or `nil`.
    public static func refusal(_ id: SecretID, rotator kind: RotatorKind, value: SecretValue) -> RotorError? {
        guard let recognised = recognise(value) else { return nil }
        return RotorError(
            .invalidOption, "rotator \(kind) has no target, but \(recognised): it would write a value that system does not know", secret: id,
            remedy: "use the rotator of that system (postgres-alternating-users, github-pat or github-app-token, cognito-app-client, or manual with a probe), or add option value-only=true if only the stored value should change")
    }
}

extension RotationEngine {
    /// Refuses a rotator that makes its own values without a target for a secret whose value
    /// belongs to an outside system (``OutsideCredential``), unless its options say `value-only=true`:
    /// only the stored value is meant to change. `value` is read only when the guard applies.
    public func requireTarget(_ id: SecretID, rotator kind: RotatorKind, options: RotatorOptions, value: () async throws -> SecretValue) async throws {
        guard OutsideCredential.guards(try rotators.make(kind, options: options), options: options) else { return }
        if let refusal = OutsideCredential.refusal(id, rotator: kind, value: try await value()) { throw refusal }
    }
}
