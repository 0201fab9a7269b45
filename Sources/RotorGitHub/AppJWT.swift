import Crypto
import CryptoExtras
import Foundation
import RotorCore

/// The JSON Web Token a GitHub App authenticates with: RS256 over `{iat, exp, iss}`, `iat` backdated
/// 60 s for clock drift, `exp` 9 minutes ahead (GitHub refuses more than 10, and exactly 10 often
/// fails on skew).
enum AppJWT {
    static let backdate: TimeInterval = 60
    static let lifetime: TimeInterval = 540

    static func sign(issuer: String, key: _RSA.Signing.PrivateKey, now: Date) throws -> String {
        let issued = Int(now.timeIntervalSince1970 - backdate)
        let header = #"{"alg":"RS256","typ":"JWT"}"#
        let claims = try JSONSerialization.data(
            withJSONObject: ["iat": issued, "exp": Int(now.timeIntervalSince1970 + lifetime), "iss": issuer] as [String: Any], options: [.sortedKeys])
        let input = base64URL(Data(header.utf8)) + "." + base64URL(claims)
        let signature = try key.signature(for: SHA256.hash(data: Data(input.utf8)), padding: .insecurePKCS1v1_5)
        return input + "." + base64URL(signature.rawRepresentation)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The App's private key from its own secret: the PEM itself (PKCS#1 as GitHub downloads it, or
    /// PKCS#8), or a JSON object whose `privateKey` field holds it. Errors never show the contents.
    static func privateKey(_ value: SecretValue, from keySecret: SecretID, for secret: SecretID, step: RotationStep) throws(RotorError) -> _RSA.Signing.PrivateKey {
        var pem = value.exposedString ?? ""
        if pem.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(pem.utf8)) as? [String: Any], let field = object["privateKey"] as? String {
            pem = field
        }
        do { return try _RSA.Signing.PrivateKey(pemRepresentation: pem.trimmingCharacters(in: .whitespacesAndNewlines)) } catch {
            throw RotorError(.invalidInput, "the secret \(keySecret) does not hold a GitHub App private key (an RSA key of 2048 bits or more, in PEM)",
                             secret: secret, step: step,
                             remedy: "store the .pem file GitHub gave you in \(keySecret) (rotor secret create \(keySecret) --rotator manual --value-stdin < app.pem)")
        }
    }
}
