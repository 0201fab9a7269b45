import AsyncHTTPClient
import Foundation
import RotorCore

/// Where and as whom rotor talks to Secrets Manager, resolved as the AWS SDKs do:
/// flags first, then `AWS_*` variables, then the profile.
public struct AWSSettings: Sendable {
    public var region: String
    public var endpoint: URL
    public var profile: String?
    public var credentials: any AWSCredentialProvider
    /// Attempts per call (`AWS_MAX_ATTEMPTS`, as the SDKs read it; 1 to 10, default 5).
    public var maxAttempts = 5

    /// - Parameters:
    ///   - region, profile, endpointURL: command-line values, which win over the environment.
    public static func resolve(
        region flagRegion: String?, profile flagProfile: String?, endpointURL: String?, environment: [String: String],
        http: HTTPClient = .withoutRedirects
    ) throws -> AWSSettings {
        let files = AWSSharedFiles(environment: environment)
        let profile = flagProfile ?? environment["AWS_PROFILE"]
        let profileSettings = files.settings(forProfile: profile ?? "default")
        guard let region = flagRegion ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? profileSettings["region"],
              !region.isEmpty else {
            throw RotorError(.invalidParameter, "no AWS region: pass --region, set AWS_REGION, or set region in the profile")
        }
        let endpointText = endpointURL ?? environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] ?? environment["AWS_ENDPOINT_URL"]
            ?? profileSettings["endpoint_url"] ?? "https://secretsmanager.\(region).amazonaws.com"
        guard let endpoint = URL(string: endpointText), endpoint.scheme == "https" || endpoint.scheme == "http", endpoint.host != nil else {
            throw RotorError(.invalidParameter, "endpoint URL '\(endpointText.prefix(200))' is not an http(s) URL")
        }
        var settings = AWSSettings(region: region, endpoint: endpoint, profile: profile,
                                   credentials: try credentialChain(profile: flagProfile, environment: environment, files: files, http: http))
        if let raw = environment["AWS_MAX_ATTEMPTS"] {
            guard let attempts = Int(raw), (1...10).contains(attempts) else {
                throw RotorError(.invalidParameter, "AWS_MAX_ATTEMPTS must be a whole number from 1 to 10, not '\(raw.prefix(20))'")
            }
            settings.maxAttempts = attempts
        }
        return settings
    }

    /// Where `service` is reached, as the SDKs resolve it: `AWS_ENDPOINT_URL_<SERVICE>` (e.g.
    /// `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`), then `AWS_ENDPOINT_URL`, then AWS's regional endpoint.
    public func endpoint(for service: AWSJSONService, environment: [String: String]) throws -> URL {
        let (variable, host): (String, String) = switch service.signingName {
        case "logs": ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "logs")
        case "events": ("AWS_ENDPOINT_URL_EVENTBRIDGE", "events")
        case "sns": ("AWS_ENDPOINT_URL_SNS", "sns")
        case "secretsmanager": ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager")
        default: ("AWS_ENDPOINT_URL_" + service.signingName.uppercased().replacingOccurrences(of: "-", with: "_"), service.signingName)
        }
        let text = environment[variable] ?? environment["AWS_ENDPOINT_URL"] ?? "https://\(host).\(region).amazonaws.com"
        guard let url = URL(string: text), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw RotorError(.invalidParameter, "\(variable) '\(text.prefix(200))' is not an http(s) URL")
        }
        return url
    }

    /// The SDKs' default credential chain (environment, `AWS_PROFILE` or `default` profile, container role).
    public static func credentialChain(environment: [String: String], http: HTTPClient = .withoutRedirects) throws -> any AWSCredentialProvider {
        try credentialChain(profile: nil, environment: environment, files: AWSSharedFiles(environment: environment), http: http)
    }

    static func credentialChain(profile: String?, environment: [String: String], files: AWSSharedFiles, http: HTTPClient) throws -> any AWSCredentialProvider {
        if let profile { return ProfileCredentialProvider(profile: profile, files: files) }
        var chain: [any AWSCredentialProvider] = []
        let fromEnvironment = EnvironmentCredentialProvider(environment: environment)
        if fromEnvironment.isConfigured { chain.append(fromEnvironment) }
        chain.append(ProfileCredentialProvider(profile: environment["AWS_PROFILE"] ?? "default", files: files))
        if ContainerCredentialProvider.isConfigured(environment) { chain.append(try ContainerCredentialProvider(environment: environment, http: http)) }
        return CredentialChain(chain)
    }
}
