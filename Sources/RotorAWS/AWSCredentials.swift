import Foundation
import RotorCore

/// AWS credentials. The secret key and session token never appear in `description` or a dump.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public let accessKeyID: String
    let secretAccessKey: String
    let sessionToken: String?
    /// When temporary credentials expire; `nil` for long-term keys.
    public let expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken?.isEmpty == true ? nil : sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secretAccessKey: \(SecretValue.redacted)\(sessionToken == nil ? "" : ", sessionToken: \(SecretValue.redacted)"))"
    }
    public var customMirror: Mirror { Mirror(self, children: ["description": description]) }

    /// Whether these credentials must be refreshed at `now` (5 minutes before they expire).
    public func needsRefresh(at now: Date) -> Bool {
        expiration.map { $0.timeIntervalSince(now) < 300 } ?? false
    }
}

/// A source of AWS credentials.
public protocol AWSCredentialProvider: Sendable {
    func credentials() async throws -> AWSCredentials
}

/// Fixed credentials (tests, or keys passed explicitly).
public struct StaticCredentialProvider: AWSCredentialProvider {
    let value: AWSCredentials
    public init(_ credentials: AWSCredentials) { value = credentials }
    public func credentials() async throws -> AWSCredentials { value }
}

extension RotorError {
    static func credentials(_ summary: String, remedy: String? = nil) -> RotorError {
        RotorError(
            .storeUnavailable, "AWS credentials: \(summary)",
            remedy: remedy ?? "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile (--profile, AWS_PROFILE), or run with a container credentials endpoint; see runbooks/aws-setup.md")
    }
}
