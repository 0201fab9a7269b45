import Foundation
import RotorCore

/// Text with placeholders for a secret value: `{value}` (the whole value) or `{field:NAME}` (a
/// string field of a JSON-object secret). Parsed once; rendered only into an outgoing request.
public struct ValueTemplate: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case literal(String)
        case value
        case field(String)
    }
    let parts: [Part]
    /// The option it came from, for errors.
    let option: String

    public init(_ text: String, option: String) throws(RotorError) {
        self.option = option
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            if open > rest.startIndex { parts.append(.literal(String(rest[..<open]))) }
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw RotorError(.invalidOption, "option \(option) has a '{' without '}'", remedy: "use {value} or {field:NAME}")
            }
            let name = rest[rest.index(after: open)..<close]
            if name == "value" {
                parts.append(.value)
            } else if name.hasPrefix("field:"), name.count > 6 {
                parts.append(.field(String(name.dropFirst(6))))
            } else {
                throw RotorError(.invalidOption, "option \(option) has an unknown placeholder {\(name.prefix(32))}", remedy: "use {value} or {field:NAME}")
            }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
    }

    /// Whether the template uses the secret value at all.
    public var usesValue: Bool { parts.contains { if case .literal = $0 { false } else { true } } }

    /// The text with the value substituted. Never log the result.
    public func render(_ value: SecretValue, secret: SecretID) throws(RotorError) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let text): out += text
            case .value:
                guard let text = value.exposedString else {
                    throw RotorError(.invalidInput, "the probe needs a text value, but the secret is binary", secret: secret, remedy: "probe text secrets only")
                }
                out += text
            case .field(let name): out += try Self.field(name, of: value, secret: secret)
            }
        }
        guard !out.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw RotorError(.invalidInput, "the probe's \(option) would carry a control character from the value", secret: secret,
                             remedy: "the value (or its field) must be a single line without control characters")
        }
        return out
    }

    static func field(_ name: String, of value: SecretValue, secret: SecretID) throws(RotorError) -> String {
        guard let text = value.exposedString,
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let field = object[name] as? String else {
            throw RotorError(.invalidInput, "the probe uses {field:\(name)}, but the value has no such string field", secret: secret,
                             remedy: "store a JSON object with a '\(name)' string, or change the probe's placeholder")
        }
        return field
    }
}
