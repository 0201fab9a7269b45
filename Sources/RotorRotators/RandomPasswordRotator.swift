import RotorCore

/// Rotates a password generated with GetRandomPassword's options. With `field`, the secret is a
/// JSON object and only that field changes. It has no target: setSecret is a no-op.
public struct RandomPasswordRotator: Rotator {
    public let kind: RotatorKind = Self.kind
    public static let kind: RotatorKind = "random-password"
    public let policy: PasswordPolicy
    let field: JSONField?

    public init(policy: PasswordPolicy, field: String? = nil) {
        self.policy = policy
        self.field = field.map(JSONField.init(name:))
    }

    /// Only a JSON field needs the current value (its other fields are kept).
    public var createReadsCurrent: Bool { field != nil }

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        // Generated here from the system's CSPRNG: the same policy GetRandomPassword applies, one API call fewer.
        let password = try policy.generate()
        guard let field, let text = password.exposedString else { return CreateSecretResponse(newValue: password) }
        return CreateSecretResponse(newValue: try field.replace(in: request.current, with: text, secret: context.secret))
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let password = try field.map { f throws(RotorError) in try f.read(request.pending, secret: context.secret) } ?? request.pending.exposedString
        guard let password else {
            throw RotorError(.stepFailed, "the pending value is binary, not a password", secret: context.secret, step: .testSecret)
        }
        if let violation = policy.violation(in: password) {
            throw RotorError(.stepFailed, "the pending password does not fit the options: \(violation)", secret: context.secret, step: .testSecret,
                             remedy: "check the rotator options with 'rotor secret describe \(context.secret)'")
        }
        return TestSecretResponse()
    }

    public static let options: [String: String] = [
        "length": "password length, 1-4096 (default 32)",
        "exclude-characters": "characters never used",
        "exclude-numbers": "true to use no digits",
        "exclude-punctuation": "true to use no punctuation",
        "exclude-uppercase": "true to use no uppercase letters",
        "exclude-lowercase": "true to use no lowercase letters",
        "include-space": "true to allow the space character",
        "require-each-included-type": "at least one of each included type (default true)",
        "field": "rotate only this string field of a JSON-object secret",
    ]

    static func parse(_ options: RotatorOptions) throws(RotorError) -> RandomPasswordRotator {
        let reader = OptionReader(kind: kind, options: options)
        let policy = PasswordPolicy(
            length: try reader.int("length", default: 32, range: PasswordPolicy.lengthRange),
            excludeCharacters: reader.string("exclude-characters") ?? "",
            excludeNumbers: try reader.bool("exclude-numbers", default: false),
            excludePunctuation: try reader.bool("exclude-punctuation", default: false),
            excludeUppercase: try reader.bool("exclude-uppercase", default: false),
            excludeLowercase: try reader.bool("exclude-lowercase", default: false),
            includeSpace: try reader.bool("include-space", default: false),
            requireEachIncludedType: try reader.bool("require-each-included-type", default: true))
        do { try policy.validate() } catch { throw RotorError(.invalidOption, "\(error.summary) (rotator \(kind))", remedy: error.remedy) }
        if let field = options["field"], field.isEmpty { throw reader.invalid("field", field, "expected a JSON field name") }
        return RandomPasswordRotator(policy: policy, field: options["field"])
    }

    /// The registry entry for this rotator.
    public static let descriptor = RotatorDescriptor(
        kind: kind, summary: "a generated password (GetRandomPassword options), whole value or one JSON field", options: options,
        build: { options throws(RotorError) in try parse(options) },
        initialValue: { options, store in
            let rotator = try parse(options)
            let password = try rotator.policy.generate()
            guard let field = rotator.field, let text = password.exposedString else { return password }
            return JSONField.encode([field.name: text])
        })
}
