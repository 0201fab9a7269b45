import struct Foundation.Data
import class Foundation.JSONSerialization

/// A secret value, text or binary. It redacts itself wherever it could be printed:
/// `description`, `debugDescription`, string interpolation, `dump` and `Mirror`.
/// Read the contents only through ``withString(_:)``, ``withBytes(_:)`` or ``exposedString``.
public struct SecretValue: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public enum Kind: String, Sendable { case string, binary }

    private enum Payload: Hashable, Sendable {
        case string(String)
        case binary([UInt8])
    }

    private let payload: Payload

    public static let redacted = "<redacted>"

    public init(string: String) { payload = .string(string) }
    public init(bytes: [UInt8]) { payload = .binary(bytes) }

    public var kind: Kind {
        switch payload {
        case .string: .string
        case .binary: .binary
        }
    }

    /// Size in bytes (UTF-8 for text).
    public var byteCount: Int {
        switch payload {
        case .string(let text): text.utf8.count
        case .binary(let bytes): bytes.count
        }
    }

    /// The text of a string value; `nil` for binary values. Handle with care: never log it.
    public var exposedString: String? {
        if case .string(let text) = payload { return text }
        return nil
    }

    /// The raw bytes: UTF-8 for strings.
    public var exposedBytes: [UInt8] {
        switch payload {
        case .string(let text): Array(text.utf8)
        case .binary(let bytes): bytes
        }
    }

    public func withString<R>(_ body: (String?) throws -> R) rethrows -> R { try body(exposedString) }
    public func withBytes<R>(_ body: ([UInt8]) throws -> R) rethrows -> R { try body(exposedBytes) }

    /// Compares two values in time independent of where they differ.
    public func constantTimeEquals(_ other: SecretValue) -> Bool {
        guard kind == other.kind else { return false }
        let (lhs, rhs) = (exposedBytes, other.exposedBytes)
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }

    public var description: String { Self.redacted }
    public var debugDescription: String { "SecretValue(\(kind.rawValue), \(Self.redacted))" }
    public var customMirror: Mirror { Mirror(self, children: ["value": Self.redacted], displayStyle: .struct) }
}

extension SecretValue {
    /// A JSON object as a secret's text value, keys sorted and slashes unescaped (the form every
    /// rotator that keeps a JSON secret's other fields writes back).
    public init(jsonObject object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        self.init(string: String(decoding: data, as: UTF8.self))
    }
}
