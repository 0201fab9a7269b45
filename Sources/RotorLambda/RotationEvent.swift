import Foundation
import RotorCore

/// The event Secrets Manager sends a rotation function: `{Step, SecretId, ClientRequestToken, RotationToken}`.
/// Steps are camelCase, as every AWS template compares them; anything else is refused.
public struct RotationEvent: Sendable, Equatable {
    public let step: RotationStep
    public let secret: SecretID
    /// The rotation's token: the new version's id.
    public let token: VersionID
    /// Passed on to PutSecretValue (assumed-role and cross-account rotation).
    public let rotationToken: String?

    public init(step: RotationStep, secret: SecretID, token: VersionID, rotationToken: String?) {
        self.step = step
        self.secret = secret
        self.token = token
        self.rotationToken = rotationToken
    }

    /// Decodes and validates an invocation payload.
    public init(json: [UInt8]) throws(RotorError) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw RotorError(.invalidInput, "the event is not a JSON object", remedy: "Secrets Manager sends {Step, SecretId, ClientRequestToken, RotationToken}")
        }
        guard let stepText = object["Step"] as? String else { throw RotorError(.invalidInput, "the event has no Step") }
        guard let step = RotationStep(rawValue: stepText) else {
            throw RotorError(.invalidInput, "Invalid step parameter '\(stepText.prefix(40))': expected createSecret, setSecret, testSecret or finishSecret")
        }
        guard let secretText = object["SecretId"] as? String else { throw RotorError(.invalidInput, "the event has no SecretId") }
        guard let tokenText = object["ClientRequestToken"] as? String else { throw RotorError(.invalidInput, "the event has no ClientRequestToken") }
        secret = try SecretID(nameOrARN: secretText)
        token = try VersionID.validated(tokenText)
        self.step = step
        if let rotationToken = object["RotationToken"], !(rotationToken is NSNull) {
            guard let text = rotationToken as? String, (36...256).contains(text.count),
                  text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                throw RotorError(.invalidInput, "the event's RotationToken is malformed")
            }
            self.rotationToken = text
        } else {
            self.rotationToken = nil
        }
    }
}
