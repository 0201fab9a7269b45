import AsyncHTTPClient
import Foundation
import NIOCore
import RotorCore

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: AWSCredentialProvider {
    let environment: [String: String]
    public init(environment: [String: String]) { self.environment = environment }

    public var isConfigured: Bool { environment["AWS_ACCESS_KEY_ID"]?.isEmpty == false }

    public func credentials() async throws -> AWSCredentials {
        guard let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else {
            throw RotorError.credentials("AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
    }
}

/// Credentials of a profile in the shared credentials file (`~/.aws/credentials`,
/// `AWS_SHARED_CREDENTIALS_FILE`) or the config file (`~/.aws/config`, `AWS_CONFIG_FILE`).
public struct ProfileCredentialProvider: AWSCredentialProvider {
    public let profile: String
    let files: AWSSharedFiles

    public init(profile: String, files: AWSSharedFiles) {
        self.profile = profile
        self.files = files
    }

    public func credentials() async throws -> AWSCredentials {
        let settings = files.settings(forProfile: profile)
        guard let key = settings["aws_access_key_id"], let secret = settings["aws_secret_access_key"] else {
            throw RotorError.credentials(
                "profile '\(profile)' has no aws_access_key_id/aws_secret_access_key in \(files.credentialsPath) or \(files.configPath)")
        }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: settings["aws_session_token"])
    }
}

/// The shared credentials and config files, parsed (INI: `[profile]` sections, `key = value` lines).
public struct AWSSharedFiles: Sendable {
    public let credentialsPath: String
    public let configPath: String
    let credentials: [String: [String: String]]
    let config: [String: [String: String]]

    public init(environment: [String: String]) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        credentialsPath = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        configPath = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        credentials = Self.parse((try? String(contentsOfFile: credentialsPath, encoding: .utf8)) ?? "")
        config = Self.parse((try? String(contentsOfFile: configPath, encoding: .utf8)) ?? "")
    }

    /// The profile's settings: the credentials file wins over the config file (`[profile NAME]`, or `[default]`).
    public func settings(forProfile profile: String) -> [String: String] {
        let configSection = profile == "default" ? (config["default"] ?? config["profile default"]) : config["profile \(profile)"]
        return (configSection ?? [:]).merging(credentials[profile] ?? [:]) { $1 }
    }

    static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            sections[current, default: [:]][key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return sections
    }
}

/// Credentials from the container credentials endpoint (ECS, EKS Pod Identity, Lambda's local
/// endpoint): `AWS_CONTAINER_CREDENTIALS_FULL_URI` or `_RELATIVE_URI`, with the optional
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)`. Cached and refreshed 5 minutes before expiry.
public actor ContainerCredentialProvider: AWSCredentialProvider {
    public let url: URL
    let authorization: @Sendable () throws -> String?
    let http: HTTPClient
    let clock: any RotorClock
    private var cached: AWSCredentials?

    public static func isConfigured(_ environment: [String: String]) -> Bool {
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] != nil || environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] != nil
    }

    public init(environment: [String: String], http: HTTPClient = .withoutRedirects, clock: any RotorClock = SystemClock()) throws {
        if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], let url = URL(string: full) {
            self.url = url
        } else if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], let url = URL(string: "http://169.254.170.2\(relative)") {
            self.url = url
        } else {
            throw RotorError.credentials("no valid AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        }
        let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
        let tokenFile = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
        authorization = {
            if let tokenFile { return try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) }
            return token
        }
        self.http = http
        self.clock = clock
    }

    public func credentials() async throws -> AWSCredentials {
        if let cached, !cached.needsRefresh(at: clock.now()) { return cached }
        let fresh = try await fetch()
        cached = fresh
        return fresh
    }

    private func fetch() async throws -> AWSCredentials {
        var request = HTTPClientRequest(url: url.absoluteString)
        if let token = try authorization() { request.headers.add(name: "Authorization", value: token) }
        let body: ByteBuffer
        let status: UInt
        do {
            let response = try await http.execute(request, timeout: .seconds(5))
            status = response.status.code
            body = try await response.body.collect(upTo: 1024 * 1024)
        } catch {
            throw RotorError.credentials("the container credentials endpoint \(url.absoluteString) did not answer (\(type(of: error)))")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        guard status == 200, let key = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String else {
            throw RotorError.credentials("the container credentials endpoint answered HTTP \(status) without credentials")
        }
        let expiration = (object["Expiration"] as? String).flatMap { try? Date($0, strategy: .iso8601) }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: object["Token"] as? String, expiration: expiration)
    }
}

/// Tries providers in order, remembering the first that works.
public struct CredentialChain: AWSCredentialProvider {
    let providers: [any AWSCredentialProvider]
    public init(_ providers: [any AWSCredentialProvider]) { self.providers = providers }

    public func credentials() async throws -> AWSCredentials {
        var failures: [String] = []
        for provider in providers {
            do { return try await provider.credentials() } catch let error as RotorError { failures.append(error.summary) }
        }
        throw RotorError.credentials("none found (\(failures.joined(separator: "; ")))")
    }
}
