import Foundation
import NIOHTTP1
import RotorCore
import RotorHTTP

/// testSecret's proof that Cognito accepts a secret: a `client_credentials` grant at the pool's
/// token endpoint (`https://DOMAIN/oauth2/token`), the client authenticated with HTTP Basic.
/// `invalid_client` means the secret was refused; other OAuth errors mean the app client is not
/// set up for the grant.
struct TokenEndpointCheck: Sendable {
    let url: OutboundURL
    let scope: String?
    let http: OutboundHTTP

    func grant(clientID: String, secret: String, for id: SecretID) async throws {
        var form = "grant_type=client_credentials"
        if let scope { form += "&scope=" + Self.formEncoded(scope) }
        let basic = Data("\(clientID):\(secret)".utf8).base64EncodedString()
        let response: OutboundResponse
        do {
            response = try await http.send(.POST, url.url, headers: [
                ("Authorization", "Basic \(basic)"), ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
            ], body: Array(form.utf8))
        } catch let failure as OutboundFailure {
            throw RotorError(.transient, "the token endpoint \(url.host) did not answer: \(failure)", secret: id, step: .testSecret,
                             remedy: "check that the pool's domain resolves and answers; rotor retries", isTransient: true)
        }
        if response.status == 200, response.jsonObject?["access_token"] is String { return }
        let code = Self.oauthError(response)
        switch (response.status, code) {
        case (400, "invalid_client"?), (401, _):
            throw RotorError(.stepFailed, "the token endpoint refused the new secret (\(code ?? "HTTP \(response.status)"))", secret: id, step: .testSecret,
                             remedy: "rotor retries (a new secret can take a moment to reach the token endpoint), then rolls back", isTransient: true)
        case (429, _), (500...599, _):
            throw RotorError(.transient, "the token endpoint answered HTTP \(response.status)", secret: id, step: .testSecret,
                             remedy: "rotor retries later", isTransient: true)
        default:
            throw RotorError(.stepFailed, "the token endpoint did not grant a token: \(code ?? "HTTP \(response.status)")", secret: id, step: .testSecret,
                             remedy: "the app client needs the client_credentials flow, a resource-server scope and the pool's domain; check token-scope")
        }
    }

    /// The OAuth `error` code of an answer, only if it is a plain code (it is quoted in messages).
    static func oauthError(_ response: OutboundResponse) -> String? {
        guard let code = response.jsonObject?["error"] as? String, code.count <= 40, code.allSatisfy({ $0.isASCII && ($0.isLowercase || $0 == "_") }) else { return nil }
        return code
    }

    static func formEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
