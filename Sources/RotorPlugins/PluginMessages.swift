import Foundation
import RotorCore

/// The messages of the exec rotator protocol, version 1 (`docs/rotator-protocol.md`).
public enum PluginProtocol {
    public static let version = "rotor.rotator/v1"
}

/// A value on the wire: `{"string": "..."}` or `{"binary": "<base64>"}`. Only ever encoded into a
/// plug-in's standard input or decoded from its standard output, never logged.
struct WireValue: Codable, Sendable {
    var string: String?
    var binary: String?

    init(_ value: SecretValue) {
        switch value.kind {
        case .string: string = value.exposedString
        case .binary: binary = Data(value.exposedBytes).base64EncodedString()
        }
    }

    /// The value, or `nil` when the object holds neither or both forms, or bad base64.
    var value: SecretValue? {
        switch (string, binary) {
        case (let text?, nil): SecretValue(string: text)
        case (nil, let encoded?): Data(base64Encoded: encoded).map { SecretValue(bytes: Array($0)) }
        default: nil
        }
    }
}

/// What `rotor-rotator-KIND describe` prints.
public struct PluginDescription: Codable, Sendable, Equatable {
    public struct Option: Codable, Sendable, Equatable {
        public var required: Bool
        public var description: String
    }

    public var `protocol`: String
    public var kind: String
    public var hasTarget: Bool
    public var afterSetFailure: String
    public var options: [String: Option]

    /// The failure direction it asks for.
    var direction: FailureDirection? { FailureDirection(rawValue: afterSetFailure) }
}

/// One step's request, on the plug-in's standard input.
struct StepMessage: Encodable {
    var `protocol` = PluginProtocol.version
    var step: String
    var secretId: String
    var token: String
    var options: [String: String]
    var current: WireValue?
    var pending: WireValue?
    var previous: WireValue?
    var supplied: WireValue?

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(`protocol`, forKey: .protocol)
        try container.encode(step, forKey: .step)
        try container.encode(secretId, forKey: .secretId)
        try container.encode(token, forKey: .token)
        try container.encode(options, forKey: .options)
        // Absent values are explicit nulls, as the protocol says.
        try container.encode(current, forKey: .current)
        try container.encode(pending, forKey: .pending)
        try container.encode(previous, forKey: .previous)
        try container.encode(supplied, forKey: .supplied)
    }

    enum CodingKeys: String, CodingKey { case `protocol`, step, secretId, token, options, current, pending, previous, supplied }
}

/// A step's answer, on the plug-in's standard output.
struct StepAnswer: Decodable {
    struct Failure: Decodable {
        var kind: String?
        var message: String?
    }

    var value: WireValue?
    var error: Failure?
}
