import RotorCore

/// The rotator settings in the function's environment, and how they combine with a secret's tags.
/// Anyone who may tag one secret must not be able to weaken how it rotates, so the environment wins:
/// - `ROTOR_ROTATOR` pins the kind; a secret tagged `rotor:rotator` with another kind is refused.
/// - `ROTOR_OPTION_<NAME>` options override `rotor:option:<name>` tags.
/// - Tags may set only the options named in `ROTOR_TAG_OPTIONS` (comma-separated; none by default,
///   so `password-length`, `exclude-characters` or `ca-file` cannot be lowered by a tag), never `user`, `env`, `timeout`, `url`, `ca-file` or `signing-key-secret`
///   (the database user comes from `ROTOR_OPTION_USER` only).
/// - A tag option that weakens security (e.g. `tls=disable`) is refused even when listed, unless the
///   environment also sets `ROTOR_ALLOW_WEAKER_TAG_OPTIONS=true`.
public struct FunctionRotatorSettings: Sendable {
    public var kind: RotatorKind?
    public var options: RotatorOptions
    public var allowWeakerTagOptions: Bool
    /// The options a secret's tags may set.
    public var tagOptions: Set<String>

    public init(kind: RotatorKind? = nil, options: RotatorOptions = RotatorOptions(), allowWeakerTagOptions: Bool = false, tagOptions: Set<String> = []) {
        // Never from tags: what a tag writer could use to send values, tokens or the App's JWT elsewhere.
        self.tagOptions = tagOptions.subtracting([
            "user", "env", "timeout", "url", "ca-file", "signing-key-secret", "private-key-secret", "base-url", "installation-id", "issuer", "login",
            "endpoint", "token-endpoint", "token-scope", "user-pool-id", "client-id",
        ]).filter { !$0.hasPrefix("probe-") }
        self.kind = kind
        self.options = options
        self.allowWeakerTagOptions = allowWeakerTagOptions
    }

    /// Reads the environment and validates a pinned rotator now, so a misconfigured function fails at init.
    public init(environment: [String: String], rotators: RotatorRegistry) throws(RotorError) {
        var options: [String: String] = [:]
        for (key, value) in environment where key.hasPrefix("ROTOR_OPTION_") {
            options[key.dropFirst("ROTOR_OPTION_".count).lowercased().replacingOccurrences(of: "_", with: "-")] = value
        }
        self.init(kind: environment["ROTOR_ROTATOR"].flatMap { $0.isEmpty ? nil : RotatorKind($0) }, options: RotatorOptions(options),
                  allowWeakerTagOptions: environment["ROTOR_ALLOW_WEAKER_TAG_OPTIONS"]?.lowercased() == "true",
                  tagOptions: Set((environment["ROTOR_TAG_OPTIONS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }))
        if let kind { _ = try rotators.make(kind, options: self.options) }
    }

    /// The rotator for a secret with these tags.
    public func rotator(for description: SecretDescription, rotators: RotatorRegistry) throws(RotorError) -> any Rotator {
        let tagged = description.tags["rotor:rotator"].map { RotatorKind($0) }
        if let kind, let tagged, tagged != kind {
            throw RotorError(
                .invalidRequest, "the secret is tagged rotor:rotator=\(tagged) but this function rotates \(kind) only", secret: description.id,
                remedy: "remove or correct the tag, or rotate this secret with a function configured for \(tagged)")
        }
        guard let chosen = kind ?? tagged else {
            throw RotorError(.invalidRequest, "no rotator: set ROTOR_ROTATOR on the function or tag the secret rotor:rotator", secret: description.id,
                             remedy: "see runbooks/lambda-deployment.md")
        }
        var fromTags: [String: String] = [:]
        for (key, value) in description.tags where key.hasPrefix("rotor:option:") {
            let name = String(key.dropFirst("rotor:option:".count))
            guard options[name] == nil else { continue }
            guard tagOptions.contains(name) else {
                throw RotorError(
                    .invalidOption, "the secret's tag \(key.prefix(80)) sets an option this function does not take from tags", secret: description.id,
                    remedy: "set it on the function (ROTOR_OPTION_\(name.uppercased().replacingOccurrences(of: "-", with: "_"))), or list it in ROTOR_TAG_OPTIONS (never 'user')")
            }
            fromTags[name] = value
        }
        let weaknesses = rotators.securityWeaknesses(chosen, options: RotatorOptions(fromTags))
        guard weaknesses.isEmpty || allowWeakerTagOptions else {
            throw RotorError(
                .invalidOption, "the secret's tags weaken security (\(weaknesses.joined(separator: "; "))) and the function does not allow that",
                secret: description.id,
                remedy: "remove the tag, set the option on the function (ROTOR_OPTION_…), or set ROTOR_ALLOW_WEAKER_TAG_OPTIONS=true on the function")
        }
        return try rotators.make(chosen, options: RotatorOptions(fromTags.merging(options.values) { _, environment in environment }))
    }
}
