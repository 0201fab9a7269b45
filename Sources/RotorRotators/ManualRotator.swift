import RotorCore

/// For keys no API can rotate (e.g. a vendor API key): the operator supplies the new value on stdin.
/// testSecret validates its format against the optional `pattern` (a regular expression that must
/// match the whole value, or the `field` of a JSON-object secret).
public struct ManualRotator: Rotator {
    public let kind: RotatorKind = Self.kind
    public static let kind: RotatorKind = "manual"
    public let pattern: String?
    public var valueComesFromOperator: Bool { true }
    let field: JSONField?

    public init(pattern: String? = nil, field: String? = nil) throws(RotorError) {
        if let pattern {
            do { _ = try Regex(pattern) } catch {
                throw RotorError(.invalidOption, "option pattern is not a valid regular expression for rotator manual")
            }
        }
        self.pattern = pattern
        self.field = field.map(JSONField.init(name:))
    }

    /// Only a JSON field needs the current value (its other fields are kept).
    public var createReadsCurrent: Bool { field != nil }

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        guard let supplied = request.suppliedValue else {
            throw RotorError(
                .invalidInput, "a manual rotation needs the new value from the operator", secret: context.secret, step: .createSecret,
                remedy: "run 'rotor rotate \(context.secret) --value-stdin' and type or pipe the new value")
        }
        guard let field, let text = supplied.exposedString else { return CreateSecretResponse(newValue: supplied) }
        return CreateSecretResponse(newValue: try field.replace(in: request.current, with: text, secret: context.secret))
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        guard let pattern else { return TestSecretResponse() }
        let text = try field.map { f throws(RotorError) in try f.read(request.pending, secret: context.secret) } ?? request.pending.exposedString
        guard let text, (try? Regex(pattern).wholeMatch(in: text)) != nil else {
            throw RotorError(
                .stepFailed, "the new value does not match the rotator's pattern", secret: context.secret, step: .testSecret,
                remedy: "check the value you supplied (the pattern is in 'rotor secret describe \(context.secret)')")
        }
        return TestSecretResponse()
    }

    public static let options: [String: String] = [
        "pattern": "regular expression the whole new value (or field) must match",
        "field": "replace only this string field of a JSON-object secret",
    ]

    public static let descriptor = RotatorDescriptor(
        kind: kind, summary: "operator-supplied value (stdin), checked against an optional pattern", options: options,
        build: { options throws(RotorError) in try ManualRotator(pattern: options["pattern"], field: options["field"]) },
        initialValue: { _, _ in nil })
}
