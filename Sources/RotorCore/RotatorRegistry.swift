/// Rotator options as `key=value` strings; each rotator parses and validates its own.
public struct RotatorOptions: Sendable, Hashable {
    public private(set) var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// Parses `key=value` arguments; a key given twice or without `=` is an error.
    public init(arguments: [String]) throws(RotorError) {
        var values: [String: String] = [:]
        for argument in arguments {
            guard let separator = argument.firstIndex(of: "="), separator != argument.startIndex else {
                throw RotorError(.invalidOption, "option '\(argument.prefix(64))' is not key=value")
            }
            let key = String(argument[..<separator])
            guard values[key] == nil else { throw RotorError(.invalidOption, "option '\(key)' is given twice") }
            values[key] = String(argument[argument.index(after: separator)...])
        }
        self.values = values
    }

    public subscript(key: String) -> String? { values[key] }
    public var keys: [String] { values.keys.sorted() }
}

/// Describes one rotator kind: its options and how to build it.
public struct RotatorDescriptor: Sendable {
    public let kind: RotatorKind
    public let summary: String
    /// Option name → one-line help.
    public let options: [String: String]
    private let build: @Sendable (RotatorOptions) throws(RotorError) -> any Rotator
    private let initial: @Sendable (RotatorOptions, any SecretStore) async throws -> SecretValue?

    /// - Parameters:
    ///   - build: validates options and builds the rotator.
    ///   - initialValue: makes a first value for `rotor secret create --generate`, or `nil` if this kind cannot.
    public init(
        kind: RotatorKind, summary: String, options: [String: String],
        build: @escaping @Sendable (RotatorOptions) throws(RotorError) -> any Rotator,
        initialValue: @escaping @Sendable (RotatorOptions, any SecretStore) async throws -> SecretValue?
    ) {
        self.kind = kind
        self.summary = summary
        self.options = options
        self.build = build
        self.initial = initialValue
    }

    /// Builds a rotator; unknown option keys and bad values are errors.
    public func make(_ options: RotatorOptions) throws(RotorError) -> any Rotator {
        let unknown = options.keys.filter { self.options[$0] == nil }
        guard unknown.isEmpty else {
            let known = self.options.keys.sorted().joined(separator: ", ")
            throw RotorError(
                .invalidOption, "unknown option(s) \(unknown.joined(separator: ", ")) for rotator \(kind)",
                remedy: known.isEmpty ? "\(kind) takes no options" : "valid options: \(known)")
        }
        return try build(options)
    }

    public func initialValue(_ options: RotatorOptions, store: any SecretStore) async throws -> SecretValue? {
        try await initial(options, store)
    }
}

/// The rotator kinds rotor knows.
public struct RotatorRegistry: Sendable {
    private var descriptors: [RotatorKind: RotatorDescriptor] = [:]

    public init(_ descriptors: [RotatorDescriptor] = []) {
        for descriptor in descriptors { register(descriptor) }
    }

    public mutating func register(_ descriptor: RotatorDescriptor) { descriptors[descriptor.kind] = descriptor }

    public var kinds: [RotatorKind] { descriptors.keys.sorted() }

    public func descriptor(_ kind: RotatorKind) throws(RotorError) -> RotatorDescriptor {
        guard let descriptor = descriptors[kind] else {
            throw RotorError(
                .unknownRotator, "unknown rotator kind '\(kind.rawValue.prefix(64))'",
                remedy: "use one of: \(kinds.map(\.rawValue).joined(separator: ", "))")
        }
        return descriptor
    }

    public func make(_ kind: RotatorKind, options: RotatorOptions) throws(RotorError) -> any Rotator {
        try descriptor(kind).make(options)
    }
}
