import Foundation
import RotorAWS
import RotorCore
import RotorHTTP

/// Where and as whom the rotator calls Cognito: the pool's region (from its id), the endpoint
/// (option `endpoint`, else `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER` or `AWS_ENDPOINT_URL`, else
/// `https://cognito-idp.REGION.amazonaws.com`) and the process's AWS credential chain.
struct CognitoClients: Sendable {
    let endpointOverride: OutboundURL?
    let credentials: any AWSCredentialProvider

    /// The endpoint override named by the option or the environment, held to ``OutboundURL``'s rule:
    /// AddUserPoolClientSecret carries the new secret, so never plain HTTP off loopback.
    static func endpointOverride(_ options: RotatorOptions, environment: [String: String]) throws(RotorError) -> OutboundURL? {
        if let option = options["endpoint"] { return try OutboundURL(option, option: "endpoint", kind: CognitoAppClientRotator.kind) }
        for name in ["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "AWS_ENDPOINT_URL"] {
            if let text = environment[name], !text.isEmpty { return try OutboundURL(text, option: name, kind: CognitoAppClientRotator.kind) }
        }
        return nil
    }

    func api(for value: CognitoClientSecret, secret: SecretID, step: RotationStep) throws -> CognitoAPI {
        let region = value.region
        guard !region.isEmpty, region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw CognitoClientSecret.invalid(secret, step, "userPoolId does not start with a region")
        }
        let endpoint = endpointOverride?.url ?? URL(string: "https://cognito-idp.\(region).amazonaws.com")!
        return CognitoAPI(client: Self.client(endpoint: endpoint, region: region, credentials: credentials),
                          userPoolID: value.userPoolID, clientID: value.clientID)
    }

    static func client(endpoint: URL, region: String, credentials: any AWSCredentialProvider) -> AWSJSONClient {
        AWSJSONClient(service: .cognitoIdentityProvider, endpoint: endpoint, region: region, credentials: credentials,
                      logger: .init(label: "rotor.cognito"))
    }
}

extension CognitoAppClientRotator {
    static let optionHelp: [String: String] = [
        "user-pool-id": "recorded from the value's userPoolId when rotor starts managing the secret",
        "client-id": "recorded from the value's clientId",
        "token-endpoint": "https URL of the pool's /oauth2/token; when set, testSecret obtains a client_credentials token with the new secret",
        "token-scope": "scope asked for in that grant (default: all the client's custom scopes)",
        "ca-file": "PEM file of the CA that signed the token endpoint's certificate (default: the system's roots)",
        "endpoint": "Cognito API endpoint (default https://cognito-idp.REGION.amazonaws.com, the region from the pool id)",
        "timeout": "seconds per token-endpoint request (default 10)",
        "previous-grace": "seconds the current secret must have existed before the secret it replaced is deleted (default 3600; 0 after a leak)",
    ]

    /// - Parameter environment: the process's, for the AWS credential chain and endpoint variables.
    static func descriptor(environment: [String: String]) -> RotatorDescriptor {
        RotatorDescriptor(
            kind: kind, summary: "Cognito app-client secrets: two valid at once, so consumers switch without an outage", options: optionHelp,
            build: { options throws(RotorError) in try make(options, environment: environment) }, initialValue: { _, _ in nil },
            recordedKeys: ["user-pool-id", "client-id"],
            recordOptions: { options, value, id throws(RotorError) in
                let secret = try CognitoClientSecret(value, secret: id)
                for (key, pinned) in secret.pinned where options[key] != nil && options[key] != pinned {
                    throw RotorError(.invalidOption, "option \(key) does not match the value", secret: id, remedy: "leave \(key) out: rotor records it from the value")
                }
                return RotatorOptions(options.values.merging(secret.pinned) { given, _ in given })
            })
    }

    static func make(_ options: RotatorOptions, environment: [String: String]) throws(RotorError) -> CognitoAppClientRotator {
        let reader = OptionReader(kind: kind, options: options)
        var check: TokenEndpointCheck?
        if let endpoint = options["token-endpoint"] {
            let timeout = try reader.int("timeout", default: 10, range: 1...120)
            check = TokenEndpointCheck(url: try OutboundURL(endpoint, option: "token-endpoint", kind: kind), scope: options["token-scope"],
                                       http: OutboundHTTP(caFile: options["ca-file"], timeout: .seconds(timeout), maxResponseBytes: 64 * 1024))
        }
        let credentials: any AWSCredentialProvider
        do { credentials = try AWSSettings.credentialChain(environment: environment) } catch {
            throw RotorError(.invalidOption, "rotator cognito-app-client has no usable AWS credentials: \(RotorError.wrapping(error).summary)",
                             remedy: "give rotor AWS credentials (environment, profile or container role) that may manage the app client's secrets")
        }
        return CognitoAppClientRotator(
            options: options,
            clients: CognitoClients(endpointOverride: try CognitoClients.endpointOverride(options, environment: environment), credentials: credentials),
            tokenCheck: check, previousGrace: TimeInterval(try reader.int("previous-grace", default: 3600, range: 0...30 * 86_400)))
    }
}

extension RotatorRegistry {
    /// The Cognito rotators, with the process's environment for AWS credentials and endpoints.
    public static func cognitoDescriptors(environment: [String: String]) -> [RotatorDescriptor] {
        [CognitoAppClientRotator.descriptor(environment: environment)]
    }
}
