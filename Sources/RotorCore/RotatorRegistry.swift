import Foundation

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

    /// Throws unless the value still names what rotor recorded (`pinned`: option → the value's fact)
    /// when it started managing the secret, so an edit of the value cannot retarget the rotator.
    public func requireRecorded(_ pinned: [String: String], kind: RotatorKind, secret: SecretID, step: RotationStep) throws(RotorError) {
        for (key, value) in pinned.sorted(by: { $0.key < $1.key }) {
            guard let recorded = values[key] else {
                throw RotorError(.invalidOption, "rotator \(kind) has no recorded \(key) for this secret", secret: secret, step: step,
                                 remedy: "manage the secret again (rotor secret manage) so rotor records it from the value")
            }
            guard recorded == value else {
                throw RotorError(.invalidInput, "the value's \(key) differs from the one rotor recorded when it started managing the secret",
                                 secret: secret, step: step, remedy: "restore the value's original \(key), or manage the secret again if the change is intended")
            }
        }
    }
}

/// Describes one rotator kind: its options and how to build it.
public struct RotatorDescriptor: Sendable {
    public let kind: RotatorKind
    public let summary: String
    /// Option name → one-line help.
    public let options: [String: String]
    private let build: @Sendable (RotatorOptions) throws(RotorError) -> any Rotator
    private let initial: @Sendable (RotatorOptions, any SecretStore) async throws -> SecretValue?
    private let weaknesses: @Sendable (RotatorOptions) -> [String]
    private let recorder: @Sendable (RotatorOptions, SecretValue, SecretID) throws(RotorError) -> RotatorOptions
    /// Options rotor fixes from the value when it starts managing a secret (see ``recordingOptions(_:from:secret:)``).
    public let recordedKeys: Set<String>
    /// Why this kind cannot be used (a plug-in that is there but cannot run); every build throws it.
    public let unusable: RotorError?

    /// - Parameters:
    ///   - build: validates options and builds the rotator.
    ///   - initialValue: makes a first value for `rotor secret create --generate`, or `nil` if this kind cannot.
    ///   - weaknesses: what the options weaken below the safe defaults (e.g. unverified TLS), one sentence each.
    public init(
        kind: RotatorKind, summary: String, options: [String: String],
        build: @escaping @Sendable (RotatorOptions) throws(RotorError) -> any Rotator,
        initialValue: @escaping @Sendable (RotatorOptions, any SecretStore) async throws -> SecretValue?,
        weaknesses: @escaping @Sendable (RotatorOptions) -> [String] = { _ in [] },
        recordedKeys: Set<String> = [],
        recordOptions: @escaping @Sendable (RotatorOptions, SecretValue, SecretID) throws(RotorError) -> RotatorOptions = { options, _, _ in options },
        unusable: RotorError? = nil
    ) {
        self.unusable = unusable
        self.weaknesses = weaknesses
        self.recordedKeys = recordedKeys
        self.recorder = recordOptions
        self.kind = kind
        self.summary = summary
        self.options = options
        self.build = build
        self.initial = initialValue
    }

    /// Builds a rotator; unknown option keys and bad values are errors.
    public func make(_ options: RotatorOptions) throws(RotorError) -> any Rotator {
        if let unusable { throw unusable }
        let unknown = options.keys.filter { !takes($0) }
        guard unknown.isEmpty else {
            let known = self.options.keys.sorted().joined(separator: ", ")
            throw RotorError(
                .invalidOption, "unknown option(s) \(unknown.joined(separator: ", ")) for rotator \(kind)",
                remedy: known.isEmpty ? "\(kind) takes no options" : "valid options: \(known)")
        }
        guard let valueOnly = options[Self.valueOnly] else { return try build(options) }
        guard valueOnly == "true" || valueOnly == "false" else {
            throw RotorError(.invalidOption, "option \(Self.valueOnly) of rotator \(kind) is not true or false")
        }
        var values = options.values
        values.removeValue(forKey: Self.valueOnly)
        let rotator = try build(RotatorOptions(values))
        guard !rotator.tellsTheCredentialsSystem, !rotator.valueComesFromOperator else {
            throw RotorError(.invalidOption, "option \(Self.valueOnly) is for rotators that make values without a target; \(kind) is not one",
                             remedy: "remove \(Self.valueOnly)")
        }
        return rotator
    }

    /// The option every kind takes: `value-only=true` says only the stored value should change, for a
    /// rotator without a target on a value that looks like an outside system's (see `OutsideCredential`).
    public static let valueOnly = "value-only"

    /// Whether `key` is one of this kind's options: named in ``options``, or of a family `NAME.*` it names
    /// there (e.g. `probe-header.*` takes `probe-header.x-api-key`).
    public func takes(_ key: String) -> Bool {
        if options[key] != nil || key == Self.valueOnly { return true }
        guard let dot = key.firstIndex(of: "."), dot != key.startIndex, key.index(after: dot) != key.endIndex else { return false }
        return options[key[...dot] + "*"] != nil
    }

    public func initialValue(_ options: RotatorOptions, store: any SecretStore) async throws -> SecretValue? {
        try await initial(options, store)
    }

    /// The options to store when rotor starts managing a secret whose current value is `value`: the
    /// given ones plus facts taken from the value (e.g. the database user), so that a later edit of
    /// the value cannot point the rotator at something else. Throws when they contradict the value.
    public func recordingOptions(_ options: RotatorOptions, from value: SecretValue, secret: SecretID) throws(RotorError) -> RotatorOptions {
        try recorder(options, value, secret)
    }

    /// `new` (e.g. a policy's options) keeping the recorded facts of `old`.
    public func keepingRecorded(_ new: RotatorOptions, from old: RotatorOptions) -> RotatorOptions {
        var values = new.values
        for key in recordedKeys where values[key] == nil { values[key] = old[key] }
        return RotatorOptions(values)
    }

    /// What `options` weaken below the safe defaults; empty when nothing is.
    public func securityWeaknesses(_ options: RotatorOptions) -> [String] {
        weaknesses(options) + (options[Self.valueOnly] == "true"
            ? ["value-only=true: only the stored value changes; the credential's own system is not told (rotor's guard against fake rotations is off)"] : [])
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

    /// What a managed secret's options weaken (nothing for unknown kinds).
    public func securityWeaknesses(_ kind: RotatorKind, options: RotatorOptions) -> [String] {
        descriptors[kind]?.securityWeaknesses(options) ?? []
    }
}

extension RotatorOptions {
    /// The options as the state stores keep them: a JSON object with sorted keys. The text is what the
    /// rotator-config MAC covers, so every state back end writes exactly these bytes.
    public var storedJSON: String {
        let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Options read back from ``storedJSON``; anything but an object of strings reads as no options.
    public init(storedJSON: String) {
        self.init((try? JSONSerialization.jsonObject(with: Data(storedJSON.utf8))) as? [String: String] ?? [:])
    }
}
