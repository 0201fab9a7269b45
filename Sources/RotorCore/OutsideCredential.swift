import struct Foundation.Data
import class Foundation.JSONSerialization

/// Recognises a value that belongs to a system outside the store: AWS's database secret JSON, a
/// GitHub token, a Cognito app client's secret, an Anthropic key. A rotator without a target that
/// makes its own values would "rotate" such a secret to a string its system does not know.
public enum OutsideCredential {
    /// What `value` shows, in words that quote no part of it; `nil` when nothing is recognised.
    public static func recognise(_ value: SecretValue) -> String? {
        guard let text = value.exposedString else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return token(text).map { "the value is \($0)" }
        }
        if object["engine"] is String, object["host"] is String { return "the value is AWS's database secret JSON (engine, host): a database login" }
        if object["userPoolId"] is String, object["clientId"] is String { return "the value names a Cognito user pool and app client (userPoolId, clientId)" }
        for key in object.keys.sorted() {
            if let field = object[key] as? String, let kind = token(field) { return "field \(key) is \(kind)" }
        }
        return nil
    }

    static let prefixes: [(String, String)] = [
        ("ghp_", "a GitHub personal access token"), ("github_pat_", "a GitHub personal access token"),
        ("gho_", "a GitHub OAuth token"), ("ghu_", "a GitHub App user token"), ("ghs_", "a GitHub App installation token"),
        ("ghr_", "a GitHub refresh token"), ("sk-ant-", "an Anthropic API key"),
    ]

    static func token(_ text: String) -> String? {
        let trimmed = text.drop(while: \.isWhitespace)
        return prefixes.first { trimmed.hasPrefix($0.0) }?.1
    }
}

extension RotationEngine {
    /// Refuses a rotator that makes its own values without a target for a secret whose value
    /// belongs to an outside system (``OutsideCredential``), unless its options say `value-only=true`:
    /// only the stored value is meant to change. Throws what was recognised and what to do.
    public func requireTarget(_ id: SecretID, rotator kind: RotatorKind, options: RotatorOptions, value: SecretValue) throws(RotorError) {
        let rotator = try rotators.make(kind, options: options)
        guard !rotator.hasTarget, !rotator.valueComesFromOperator, options[RotatorDescriptor.valueOnly] != "true",
              let recognised = OutsideCredential.recognise(value) else { return }
        throw RotorError(
            .invalidOption, "rotator \(kind) has no target, but \(recognised): it would write a value that system does not know", secret: id,
            remedy: "use the rotator of that system (postgres-alternating-users, github-pat or github-app-token, cognito-app-client, or manual with a probe), or add option value-only=true if only the stored value should change")
    }
}
