/// An environment name such as `prod` or `staging`: the first segment of every ``SecretID``.
public struct Environment: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let name: String

    /// Validates an environment name: 1-32 lowercase letters, digits or hyphens, starting with a letter.
    public init(_ name: String) throws(RotorError) {
        guard Self.isValid(name) else {
            throw RotorError(
                .invalidSecretID,
                "environment '\(name.printable(limit: 64))' is invalid: expected 1-32 lowercase letters, digits or '-', starting with a letter",
                remedy: "use an environment such as 'prod' or 'staging'")
        }
        self.name = name
    }

    static func isValid(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, (1...32).contains(name.unicodeScalars.count) else { return false }
        guard ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    public var description: String { name }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.name < rhs.name }
}

/// The id of a secret, following the naming convention
/// `/{environment}/{service}/{secret-type}/{secret-name}`,
/// for example `/prod/github-integration/api-token/personal-access-token`.
public struct SecretID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let environment: Environment
    public let service: String
    public let secretType: String
    public let secretName: String

    /// The full id, as stored and displayed (kept, not rebuilt: ids are compared, hashed and
    /// written millions of times in a large fleet's passes).
    public let rawValue: String
    public var description: String { rawValue }

    /// Parses and validates an id; the error names the part that is wrong.
    public init(_ raw: String) throws(RotorError) {
        let shown = raw.printable(limit: 128)
        guard raw.utf8.count <= 512 else {
            throw Self.invalid(shown, "is longer than 512 bytes")
        }
        guard raw.hasPrefix("/") else {
            throw Self.invalid(shown, "must start with '/'")
        }
        let parts = raw.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4 else {
            throw Self.invalid(shown, "has \(parts.count) part(s); expected 4")
        }
        do {
            environment = try Environment(parts[0])
        } catch {
            throw Self.invalid(shown, "has an invalid environment '\(parts[0].printable(limit: 64))' (1-32 lowercase letters, digits or '-', starting with a letter)")
        }
        for (index, label) in ["service", "secret-type", "secret-name"].enumerated() {
            let part = parts[index + 1]
            if let problem = Self.problem(withSegment: part) {
                throw Self.invalid(shown, "has an invalid \(label) '\(part.printable(limit: 64))': \(problem)")
            }
        }
        (service, secretType, secretName) = (parts[1], parts[2], parts[3])
        rawValue = raw
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    /// Accepts a secret's name or its ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf`);
    /// the ARN's name loses the 6-character suffix Secrets Manager appends.
    public init(nameOrARN raw: String) throws(RotorError) {
        guard raw.hasPrefix("arn:") else { try self.init(raw); return }
        let parts = raw.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
        guard parts.count == 7, parts[2] == "secretsmanager", parts[5] == "secret" else {
            throw Self.invalid(raw.printable(limit: 128), "is not a Secrets Manager secret ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)")
        }
        var name = String(parts[6])
        if let dash = name.lastIndex(of: "-"), name.distance(from: dash, to: name.endIndex) == 7 { name = String(name[..<dash]) }
        try self.init(name)
    }

    /// The ids an ARN may name: a full ARN's name ends in `-` and 6 characters that Secrets Manager
    /// appended, but a partial ARN (no suffix) of a secret whose own name ends that way looks the same.
    /// Names and ARNs without such an ending have one candidate.
    public static func candidates(nameOrARN raw: String) throws(RotorError) -> [SecretID] {
        let stripped = try SecretID(nameOrARN: raw)
        guard raw.hasPrefix("arn:"), let whole = raw.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false).last,
              let literal = try? SecretID(String(whole)), literal != stripped else { return [stripped] }
        return [stripped, literal]
    }

    static func problem(withSegment segment: String) -> String? {
        if segment.isEmpty { return "it is empty" }
        let allowed = segment.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_.+=@".unicodeScalars.contains(scalar))
        }
        return allowed ? nil : "use only letters, digits and - _ . + = @"
    }

    static func invalid(_ raw: String, _ problem: String) -> RotorError {
        RotorError(
            .invalidSecretID, "secret id '\(raw)' \(problem)",
            remedy: "ids follow /{environment}/{service}/{secret-type}/{secret-name}, e.g. /prod/github-integration/api-token/personal-access-token")
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Which environments an operation may touch. Environments are never mixed:
/// a scoped operation refuses any secret of another environment.
public enum EnvironmentScope: Sendable, Hashable, CustomStringConvertible {
    case all
    case only(Environment)

    public func contains(_ id: SecretID) -> Bool { contains(environment: id.environment) }

    public func contains(environment: Environment) -> Bool {
        switch self {
        case .all: true
        case .only(let only): only == environment
        }
    }

    /// The range of ids in this scope, as `[lower, upper)` for an index range (`nil` for all):
    /// every id of environment E starts with "/E/", and "0" follows "/" in ASCII.
    public var idRange: (lower: String, upper: String)? {
        switch self {
        case .all: nil
        case .only(let environment): ("/\(environment.name)/", "/\(environment.name)0")
        }
    }

    /// Throws ``RotorError/Code/environmentMismatch`` when `id` is outside the scope.
    public func check(_ id: SecretID) throws(RotorError) {
        guard contains(id) else {
            throw RotorError(
                .environmentMismatch,
                "secret belongs to environment '\(id.environment)', but this operation is scoped to '\(self)'",
                secret: id, remedy: "run it with --environment \(id.environment), or pick a secret of '\(self)'")
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .only(let environment): environment.name
        }
    }
}

extension String {
    /// For an error message or a log line: printable ASCII only (anything else as `?`, so no
    /// control sequence reaches a terminal or a log), at most `limit` characters.
    public func printable(limit: Int) -> String {
        String(String.UnicodeScalarView(unicodeScalars.prefix(limit).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? $0 : "?" }))
    }
}
