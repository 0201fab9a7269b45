import Foundation
import RotorCore

/// The value of a `github-app-token` secret: `{appId or clientId, installationId, baseUrl?,
/// permissions?, repositories?, token, expiresAt}`. The App's private key is not in it.
struct GitHubAppTokenSecret {
    var object: [String: Any]
    let issuer: String
    let installationID: String
    let baseURL: String
    let permissions: [String: String]
    let repositories: [String]

    init(_ value: SecretValue, secret: SecretID, step: RotationStep? = nil) throws(RotorError) {
        guard let text = value.exposedString, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw Self.invalid(secret, step, "the value is not a JSON object")
        }
        self.object = object
        guard let issuer = Self.text(object["clientId"]) ?? Self.text(object["appId"]), !issuer.isEmpty, issuer.count <= 64 else {
            throw Self.invalid(secret, step, "the value has neither clientId nor appId")
        }
        guard let installation = Self.text(object["installationId"]), !installation.isEmpty, installation.allSatisfy(\.isNumber), installation.count <= 20 else {
            throw Self.invalid(secret, step, "the value has no numeric installationId")
        }
        self.issuer = issuer
        installationID = installation
        baseURL = (object["baseUrl"] as? String) ?? GitHubAPI.defaultBase
        guard let permissions = (object["permissions"] ?? [String: String]()) as? [String: String] else {
            throw Self.invalid(secret, step, "permissions is not an object of name → read/write/admin")
        }
        guard let repositories = (object["repositories"] ?? [String]()) as? [String], repositories.count <= 500 else {
            throw Self.invalid(secret, step, "repositories is not a list of at most 500 names")
        }
        self.permissions = permissions
        self.repositories = repositories
    }

    var token: String? { object["token"] as? String }

    /// The value with a new token, its expiry and what GitHub granted.
    func with(token: String, expiresAt: String, granted: [String: String]) -> SecretValue {
        var object = object
        object["token"] = token
        object["expiresAt"] = expiresAt
        object["grantedPermissions"] = granted
        return SecretValue(jsonObject: object)
    }

    /// `POST /app/installations/{id}/access_tokens`'s body: the narrowing asked for, or nothing.
    var tokenRequestBody: [UInt8]? {
        var body: [String: Any] = [:]
        if !permissions.isEmpty { body["permissions"] = permissions }
        if !repositories.isEmpty { body["repositories"] = repositories }
        guard !body.isEmpty else { return nil }
        return Array((try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data())
    }

    /// The options rotor pins when it starts managing the secret, so that an edit of the value cannot
    /// point the App's credentials at another server or installation.
    var pinned: [String: String] { ["base-url": baseURL, "installation-id": installationID, "issuer": issuer] }

    /// Throws unless the value still names what was pinned.
    func requirePinned(_ options: RotatorOptions, secret: SecretID, step: RotationStep) throws(RotorError) {
        try options.requireRecorded(pinned, kind: GitHubAppTokenRotator.kind, secret: secret, step: step)
    }

    /// Whether `granted` covers every permission asked for (read < write < admin).
    static func covers(_ granted: [String: String], _ wanted: [String: String]) -> [String] {
        let rank = ["read": 1, "write": 2, "admin": 3]
        return wanted.keys.sorted().filter { name in (rank[granted[name] ?? ""] ?? 0) < (rank[wanted[name]!] ?? 4) }
    }

    static func text(_ any: Any?) -> String? {
        if let string = any as? String { return string }
        if let number = any as? NSNumber { return number.stringValue }
        return nil
    }

    static func invalid(_ secret: SecretID, _ step: RotationStep?, _ what: String) -> RotorError {
        RotorError(.invalidInput, "the github-app-token secret's value is malformed: \(what)", secret: secret, step: step,
                   remedy: #"store {"clientId" or "appId", "installationId", "baseUrl"?, "permissions"?, "repositories"?} as JSON"#)
    }
}
