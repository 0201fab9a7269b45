import Foundation
import RotorCore

/// Reads and replaces one string field of a JSON-object secret (e.g. `password` or `apiKey`),
/// keeping the other fields. Errors never include the secret's text.
struct JSONField: Sendable {
    let name: String

    func read(_ value: SecretValue, secret: SecretID) throws(RotorError) -> String {
        let object = try decode(value, secret: secret)
        guard let field = object[name] as? String else {
            throw RotorError(.invalidInput, "the secret's JSON has no string field '\(name)'", secret: secret,
                             remedy: "store a JSON object with a '\(name)' string, or change the rotator's field option")
        }
        return field
    }

    func replace(in value: SecretValue, with newField: String, secret: SecretID) throws(RotorError) -> SecretValue {
        var object = (try? decode(value, secret: secret)) ?? [:]
        object[name] = newField
        return Self.encode(object)
    }

    static func encode(_ object: [String: Any]) -> SecretValue {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return SecretValue(string: String(decoding: data, as: UTF8.self))
    }

    private func decode(_ value: SecretValue, secret: SecretID) throws(RotorError) -> [String: Any] {
        guard let text = value.exposedString,
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw RotorError(.invalidInput, "the secret value is not a JSON object, but the rotator's field option is '\(name)'", secret: secret,
                             remedy: "store a JSON object, or remove the field option to rotate the whole value")
        }
        return object
    }
}
