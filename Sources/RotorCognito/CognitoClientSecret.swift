import Foundation
import RotorCore

/// The value of a `cognito-app-client` secret: `{userPoolId, clientId, clientSecretId, clientSecret}`
/// (other fields are kept). `clientSecretId` may be missing in a first value copied from the console;
/// rotor fills it in with its first rotation.
struct CognitoClientSecret {
    var object: [String: Any]
    let userPoolID: String
    let clientID: String
    let clientSecretID: String?
    let clientSecret: String

    init(_ value: SecretValue, secret: SecretID, step: RotationStep? = nil) throws(RotorError) {
        guard let text = value.exposedString, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw Self.invalid(secret, step, "the value is not a JSON object")
        }
        self.object = object
        guard let pool = object["userPoolId"] as? String, Self.isUserPoolID(pool) else {
            throw Self.invalid(secret, step, "userPoolId is missing or is not a user pool id (REGION_ID, e.g. eu-west-1_AbC123)")
        }
        guard let client = object["clientId"] as? String, Self.isClientID(client) else {
            throw Self.invalid(secret, step, "clientId is missing or is not an app client id (letters, digits, _ and +, at most 128)")
        }
        guard let value = object["clientSecret"] as? String, !value.isEmpty else {
            throw Self.invalid(secret, step, "clientSecret is missing")
        }
        let secretID = object["clientSecretId"] as? String
        if let secretID, !Self.isSecretID(secretID, of: client) {
            throw Self.invalid(secret, step, "clientSecretId does not belong to clientId (Cognito's ids are CLIENTID--TIME)")
        }
        if let previous = object["previousClientSecretId"] as? String, !Self.isSecretID(previous, of: client) {
            throw Self.invalid(secret, step, "previousClientSecretId does not belong to clientId")
        }
        userPoolID = pool
        clientID = client
        clientSecretID = secretID
        clientSecret = value
    }

    /// The pool's region: the part of its id before `_`.
    var region: String { String(userPoolID.split(separator: "_").first ?? "") }

    /// The secret the value replaced, as rotor recorded it (for a first value that did not name its own id).
    var previousClientSecretID: String? { object["previousClientSecretId"] as? String }

    /// The value with a new secret and its id, remembering the id of the secret it replaces.
    func with(secretID: String, secret: String, replacing: String) -> SecretValue {
        var object = object
        object["clientSecretId"] = secretID
        object["clientSecret"] = secret
        object["previousClientSecretId"] = replacing
        return SecretValue(jsonObject: object)
    }

    /// What rotor records when it starts managing the secret, so an edit of the value cannot point
    /// rotor at another pool or client (where it would add and delete secrets).
    var pinned: [String: String] { ["user-pool-id": userPoolID, "client-id": clientID] }

    /// Throws unless the value still names the pool and client rotor recorded.
    func requirePinned(_ options: RotatorOptions, secret: SecretID, step: RotationStep) throws(RotorError) {
        try options.requireRecorded(pinned, kind: CognitoAppClientRotator.kind, secret: secret, step: step)
    }

    /// `[\w-]+_[0-9a-zA-Z]+`, at most 55 characters (Cognito's pattern).
    static func isUserPoolID(_ text: String) -> Bool {
        guard text.count <= 55, let underscore = text.lastIndex(of: "_"), underscore != text.startIndex else { return false }
        let region = text[..<underscore], suffix = text[text.index(after: underscore)...]
        return !suffix.isEmpty && suffix.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
            && region.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// Cognito's `CLIENTID--CREATION` form, with nothing but letters, digits, `_` and `-` after the `--`.
    static func isSecretID(_ text: String, of client: String) -> Bool {
        guard text.hasPrefix(client + "--") else { return false }
        let rest = text.dropFirst(client.count + 2)
        return !rest.isEmpty && rest.count <= 64 && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// `[\w+]+`, at most 128 characters.
    static func isClientID(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 128 && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "+") }
    }

    static func invalid(_ secret: SecretID, _ step: RotationStep?, _ what: String) -> RotorError {
        RotorError(.invalidInput, "the cognito-app-client value is unusable: \(what)", secret: secret, step: step,
                   remedy: #"store {"userPoolId":"REGION_ID","clientId":"...","clientSecretId":"...","clientSecret":"..."}"#)
    }
}
