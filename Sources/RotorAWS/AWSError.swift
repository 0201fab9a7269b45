import Foundation
import RotorCore

/// An AWS service's error answer, as a caller of ``AWSJSONClient`` sees it.
public typealias AWSServiceFault = AWSErrorResponse

/// An error response of an AWS JSON API (or an emulator's XML one), turned into a ``RotorError``.
public struct AWSErrorResponse: Sendable, Equatable {
    public let status: Int
    /// The exception's name, e.g. `LimitExceededException`.
    public let type: String
    /// The service's message (at most 400 characters); AWS's messages name resources, never secret values.
    public let message: String
    public let requestID: String?

    /// Parses `__type` (or `code`, or the `X-Amzn-Errortype` header), sanitised as Smithy says,
    /// and `message`/`Message` case-insensitively, whatever the HTTP status.
    static func parse(status: Int, headerType: String?, body: [UInt8], requestID: String?) -> AWSErrorResponse {
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        let lowered = Dictionary(object.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        var type = (lowered["__type"] as? String) ?? (lowered["code"] as? String) ?? headerType ?? xmlElement("Code", in: body) ?? ""
        var message = (lowered["message"] as? String) ?? xmlElement("Message", in: body) ?? ""
        type = String(sanitise(type).filter { $0.isASCII && ($0.isLetter || $0.isNumber || "_.#".contains($0)) }.prefix(100))
        if type.isEmpty { type = status >= 500 ? "InternalFailure" : "UnknownError(\(status))" }
        message = printable(message)
        if message.isEmpty { message = "HTTP \(status)" }
        return AWSErrorResponse(status: status, type: type, message: String(message.prefix(400)), requestID: requestID.map { String(printable($0).prefix(100)) })
    }

    /// A remote text without control characters (they could forge log lines or drive a terminal).
    static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { !($0.properties.generalCategory == .control || $0.properties.generalCategory == .format) }))
    }

    /// `aws.protocoltests#FooError:http://…` → `FooError`.
    static func sanitise(_ raw: String) -> String {
        var type = raw
        if let colon = type.firstIndex(of: ":") { type = String(type[..<colon]) }
        if let hash = type.lastIndex(of: "#") { type = String(type[type.index(after: hash)...]) }
        return type.trimmingCharacters(in: .whitespaces)
    }

    static func xmlElement(_ name: String, in body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex) else { return nil }
        return String(text[start.upperBound..<end.lowerBound])
    }

    static let throttlingTypes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
    ]
    static let serverTypes: Set<String> = ["InternalServiceError", "InternalFailure", "InternalServiceFailure", "ServiceUnavailable"]
    static let authenticationTypes: Set<String> = [
        "UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
        "InvalidSignatureException", "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException",
    ]

    /// Whether retrying may help: throttling, server faults, HTTP 429/5xx.
    public var isRetryable: Bool {
        Self.throttlingTypes.contains(type) || Self.serverTypes.contains(type) || status == 429 || (500...599).contains(status)
    }

    /// The rotor error for this response to `operation` on `secret`. Never contains a secret value
    /// (Secrets Manager messages name secrets and versions, not values).
    func rotorError(operation: String, secret: SecretID?, service: String = AWSJSONService.secretsManager.name) -> RotorError {
        let summary = "\(service) \(operation) failed: \(type): \(message)\(requestID.map { " (request id \($0))" } ?? "")"
        switch type {
        case "ResourceNotFoundException":
            let isVersion = message.contains("secret value") || message.contains("VersionId") || message.contains("staging label")
            return RotorError(isVersion ? .versionNotFound : .secretNotFound, summary, secret: secret,
                              remedy: "check the id and region (rotor secret list --store aws)")
        case "ResourceExistsException":
            return RotorError(operation == "CreateSecret" ? .secretExists : .tokenInUse, summary, secret: secret)
        case "InvalidParameterException", "ValidationException", "InvalidParameterValue", "InvalidNextTokenException":
            return RotorError(.invalidParameter, summary, secret: secret)
        case "InvalidRequestException", "LimitExceededException", "PreconditionNotMetException":
            let mismatch = message.contains("not associated to the provided VersionId")
            return RotorError(mismatch ? .versionNotFound : .invalidRequest, summary, secret: secret)
        case "AccessDeniedException", "AccessDenied":
            return RotorError(.accessDenied, summary, secret: secret,
                              remedy: "grant the action to rotor's IAM identity ('rotor iam policy' writes a least-privilege policy; runbooks/iam-policies.md)")
        case _ where Self.authenticationTypes.contains(type):
            let skew = message.localizedCaseInsensitiveContains("expired") || message.localizedCaseInsensitiveContains("skew")
            return RotorError(.authenticationFailed, summary, secret: secret,
                              remedy: skew ? "the machine clock is off by more than 5 minutes: fix it (NTP)" : "check the access key, secret key and session token rotor uses")
        default:
            return RotorError(isRetryable ? .transient : .remoteFailure, summary, secret: secret,
                              remedy: isRetryable ? "\(service) is throttling or failing; rotor retried with backoff, try again later" : nil,
                              isTransient: isRetryable)
        }
    }
}
