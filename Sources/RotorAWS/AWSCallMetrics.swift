import CoreMetrics

/// Counts the AWS JSON client's calls by service, API and outcome (`ok`, the AWS error type, or
/// `Unreachable`), with access-denied answers also on their own series. Error types outside the
/// ones rotor knows count as `OtherError`, so a misbehaving endpoint cannot grow the label set.
struct AWSCallMetrics: Sendable {
    let factory: any MetricsFactory
    let service: String

    func succeeded(_ api: String) { count(api, "ok") }
    func unreachable(_ api: String) { count(api, "Unreachable") }

    func failed(_ api: String, _ type: String) {
        count(api, Self.knownTypes.contains(type) ? type : "OtherError")
        if type == "AccessDeniedException" || type == "AccessDenied" {
            Counter(label: "rotor_aws_access_denied_total", dimensions: [("service", service), ("api", api)], factory: factory).increment()
        }
    }

    func count(_ api: String, _ outcome: String) {
        Counter(label: "rotor_aws_calls_total", dimensions: [("service", service), ("api", api), ("outcome", outcome)], factory: factory).increment()
    }

    static let knownTypes: Set<String> = AWSErrorResponse.throttlingTypes.union(AWSErrorResponse.serverTypes).union(AWSErrorResponse.authenticationTypes)
        .union([
            "ResourceNotFoundException", "ResourceExistsException", "InvalidParameterException", "ValidationException", "InvalidParameterValue",
            "InvalidNextTokenException", "InvalidRequestException", "LimitExceededException", "PreconditionNotMetException",
            "AccessDeniedException", "AccessDenied", "DecryptionFailure", "EncryptionFailure", "MalformedPolicyDocumentException",
        ])
}
