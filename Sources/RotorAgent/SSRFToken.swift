import Foundation
import RotorCore

/// The token every request but `/ping` must carry (AWS's agent's SSRF protection): the value of the
/// first configured environment variable that is set, or, for `file://PATH`, that file's contents
/// trimmed. Read once at start; without one the agent does not start.
public struct SSRFToken: Sendable, CustomStringConvertible {
    let value: SecretValue

    public static func resolve(variables: [String], environment: [String: String]) throws(RotorError) -> SSRFToken {
        guard let name = variables.first(where: { environment[$0].map { !$0.isEmpty } ?? false }), let raw = environment[name] else {
            throw RotorError(.invalidParameter, "no SSRF token: none of \(variables.joined(separator: ", ")) is set",
                             remedy: "set AWS_TOKEN to a random value (or file:///path/to/token) that the applications send in X-Aws-Parameters-Secrets-Token")
        }
        guard raw.hasPrefix("file://") else { return SSRFToken(value: SecretValue(string: raw)) }
        let path = String(raw.dropFirst("file://".count))
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            throw RotorError(.invalidParameter, "no SSRF token: \(name) names the file \(path.printable(limit: 200)), which is missing, unreadable or empty",
                             remedy: "write the token to that file (readable by the agent only and the applications' group)")
        }
        return SSRFToken(value: SecretValue(string: text))
    }

    /// Whether `presented` is the token (constant time).
    func accepts(_ presented: String) -> Bool { value.constantTimeEquals(SecretValue(string: presented)) }

    public var description: String { "SSRFToken(\(SecretValue.redacted))" }
}
