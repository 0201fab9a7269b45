import Foundation
import RotorAWS
import RotorCore

/// The client-secret operations of Cognito's user-pool API (AWS JSON 1.1, SigV4 service
/// `cognito-idp`), with Cognito's error answers explained for the secret and step at hand.
struct CognitoAPI: Sendable {
    /// A secret Cognito lists for an app client (values are never listed).
    struct ListedSecret: Sendable, Equatable {
        let id: String
        let created: Date?
    }

    let client: AWSJSONClient
    let userPoolID: String
    let clientID: String

    /// Every secret of the app client (`ListUserPoolClientSecrets`, all pages). Cognito keeps at most
    /// two; an answer with more, with ids not of this client, or with endless pages is refused.
    func list(secret: SecretID, step: RotationStep) async throws -> [ListedSecret] {
        var listed: [ListedSecret] = []
        var next: String?
        var seen: Set<String> = []
        for _ in 0..<Self.maximumPages {
            var body: [String: Any] = ["UserPoolId": userPoolID, "ClientId": clientID]
            if let next { body["NextToken"] = next }
            let object = try await call("ListUserPoolClientSecrets", body, secret: secret, step: step).object()
            for entry in (object["ClientSecrets"] as? [[String: Any]]) ?? [] {
                guard let id = entry["ClientSecretId"] as? String, CognitoClientSecret.isSecretID(id, of: clientID) else {
                    throw unexpected("a secret id that is not of app client \(clientID)", secret: secret, step: step)
                }
                listed.append(ListedSecret(id: id, created: (entry["ClientSecretCreateDate"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }))
            }
            next = object["NextToken"] as? String
            guard let token = next else { break }
            guard seen.insert(token).inserted else { throw unexpected("the same NextToken twice", secret: secret, step: step) }
        }
        guard next == nil, listed.count <= Self.maximumSecrets else {
            throw unexpected("more secrets or pages than Cognito keeps for one client", secret: secret, step: step)
        }
        return listed
    }

    static let maximumPages = 10
    static let maximumSecrets = 10

    func unexpected(_ what: String, secret: SecretID, step: RotationStep) -> RotorError {
        RotorError(.remoteFailure, "Cognito ListUserPoolClientSecrets answered with \(what); rotor changes nothing on such an answer", secret: secret,
                   step: step, remedy: "check that the endpoint is Cognito's (option endpoint, AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER)")
    }

    /// Adds `value` as a secret of the app client (`AddUserPoolClientSecret`); returns its id. Never
    /// repeated by the client: an answer lost on the way may hide a secret that was added, which the
    /// step's next attempt finds by listing (see ``CognitoAppClientRotator/toDelete``).
    func add(_ value: String, secret: SecretID, step: RotationStep) async throws -> String {
        let object: [String: Any]
        do {
            object = try await call("AddUserPoolClientSecret", ["UserPoolId": userPoolID, "ClientId": clientID, "ClientSecret": value],
                                    secret: secret, step: step, retries: false).object()
        } catch var error as RotorError where error.summary.contains(value) {
            // A validation message that quotes the secret it was sent must not carry it on.
            error.summary = error.summary.replacingOccurrences(of: value, with: "<redacted>")
            throw error
        }
        guard let descriptor = object["ClientSecretDescriptor"] as? [String: Any], let id = descriptor["ClientSecretId"] as? String,
              CognitoClientSecret.isSecretID(id, of: clientID) else {
            throw RotorError(.remoteFailure, "Cognito AddUserPoolClientSecret answered without a ClientSecretId", secret: secret, step: step,
                             remedy: "check the app client in the Cognito console; rotor retries", isTransient: true)
        }
        return id
    }

    /// Deletes one secret of the app client (`DeleteUserPoolClientSecret`); one already gone counts as deleted.
    func delete(_ secretID: String, secret: SecretID, step: RotationStep) async throws {
        do {
            _ = try await call("DeleteUserPoolClientSecret", ["UserPoolId": userPoolID, "ClientId": clientID, "ClientSecretId": secretID],
                               secret: secret, step: step, goneIsDone: true)
        } catch let error as RotorError where error.code == .versionNotFound {
            return
        }
    }

    private func call(
        _ operation: String, _ body: [String: Any], secret: SecretID, step: RotationStep, goneIsDone: Bool = false, retries: Bool = true
    ) async throws -> SecretsManagerResponse {
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        let pool = userPoolID, client = clientID
        do {
            return try await self.client.send(operation: operation, body: data, secret: secret, retries: retries) { fault in
                Self.explain(fault, operation: operation, pool: pool, client: client, goneIsDone: goneIsDone)
            }
        } catch let error as RotorError {
            throw error.about(secret, step: step)
        }
    }

    /// Cognito's own error answers, in words that say what to do.
    static func explain(_ fault: AWSServiceFault, operation: String, pool: String, client: String, goneIsDone: Bool) -> RotorError? {
        let cause = "Cognito \(operation) failed: \(fault.type): \(fault.message)"
        switch fault.type {
        case "LimitExceededException":
            return RotorError(.invalidRequest, "\(cause): app client \(client) already has two secrets, Cognito's limit", remedy:
                "a secret was added outside rotor: list them (aws cognito-idp list-user-pool-client-secrets --user-pool-id \(pool) --client-id \(client)), delete the one no consumer uses, then rotate again")
        case "ResourceNotFoundException":
            if goneIsDone && fault.message.localizedCaseInsensitiveContains("secret") { return RotorError(.versionNotFound, cause) }
            return RotorError(.invalidRequest, cause, remedy: "check that user pool \(pool) and app client \(client) exist in this region and the value names them")
        case "NotAuthorizedException", "AccessDeniedException":
            return RotorError(.accessDenied, cause, remedy:
                "grant rotor's IAM identity cognito-idp:ListUserPoolClientSecrets, AddUserPoolClientSecret and DeleteUserPoolClientSecret on user pool \(pool) (runbooks/cognito-app-client.md)")
        case "InvalidParameterException":
            return RotorError(.invalidRequest, cause, remedy: "check the value's userPoolId and clientId; an app client needs a secret before its secrets can rotate")
        default:
            return nil
        }
    }
}
