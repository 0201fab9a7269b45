import struct Foundation.Date

/// Which managed secrets a batch rotates: every criterion given must hold (several `match` globs:
/// any of them).
public struct BatchSelection: Sendable, Hashable, CustomStringConvertible {
    public var matchers: [SecretMatcher]
    public var policy: String?
    public var service: String?
    public var environment: Environment?

    public init(matchers: [SecretMatcher] = [], policy: String? = nil, service: String? = nil, environment: Environment? = nil) {
        self.matchers = matchers
        self.policy = policy
        self.service = service
        self.environment = environment
    }

    public var isEmpty: Bool { matchers.isEmpty && policy == nil && service == nil && environment == nil }

    /// Whether `id`, covered by the policy named `policyName`, is selected.
    public func includes(_ id: SecretID, policyName: String?) -> Bool {
        (matchers.isEmpty || matchers.contains { $0.matches(id) })
            && (policy == nil || policy == policyName)
            && (service == nil || service == id.service)
            && (environment == nil || environment == id.environment)
    }

    public var description: String {
        var parts = matchers.map { "match=\($0.pattern)" }
        if let policy { parts.append("policy=\(policy)") }
        if let service { parts.append("service=\(service)") }
        if let environment { parts.append("environment=\(environment)") }
        return parts.joined(separator: " ")
    }
}

/// One secret of a batch, with what it waits for.
public struct BatchItem: Sendable {
    public let id: SecretID
    public let rotator: RotatorKind
    public let policy: String?
    /// The batch's secrets it uses while rotating (rotated before it).
    public let dependsOn: [DependencyEdge]
    /// Why a batch cannot rotate it (a person makes its value), or nil.
    public let needsPerson: String?

    public init(id: SecretID, rotator: RotatorKind, policy: String?, dependsOn: [DependencyEdge] = [], needsPerson: String? = nil) {
        self.id = id
        self.rotator = rotator
        self.policy = policy
        self.dependsOn = dependsOn
        self.needsPerson = needsPerson
    }
    /// This secret's end in a batch, when it did not run (or ran elsewhere and said how it went).
    public func result(_ outcome: BatchOutcome, error: String? = nil) -> BatchResult {
        BatchResult(id: id, rotator: rotator, outcome: outcome, error: error)
    }
}

/// What a batch will do, in order: every dependency before the secrets that use it.
public struct BatchPlan: Sendable {
    public let selection: BatchSelection
    public let items: [BatchItem]
    /// Dependencies that could not be found (a value that does not parse): those secrets rotate without waiting.
    public let notes: [String]

    public init(selection: BatchSelection, items: [BatchItem], notes: [String] = []) {
        self.selection = selection
        self.items = items
        self.notes = notes
    }
}

extension RotationEngine {
    /// Plans a batch over the managed secrets of `scope`. Throws when the selection is empty or
    /// matches nothing, or when the selected secrets' dependencies form a cycle.
    /// - Parameter policies: the policy covering a secret (for `--policy` and `depends_on`).
    public func planBatch(
        _ selection: BatchSelection, scope: EnvironmentScope, policies: (SecretID) -> RotationPolicy?
    ) async throws -> BatchPlan {
        guard !selection.isEmpty else {
            throw RotorError(.invalidParameter, "a batch needs a selection", remedy: "give --match GLOB, --policy NAME, --service NAME or --environment ENV")
        }
        let selected = try await state.managedSecrets(in: scope).filter { selection.includes($0.id, policyName: policies($0.id)?.name) }
        guard !selected.isEmpty else {
            throw RotorError(.notManaged, "the selection \(selection) matches no managed secret\(scope == .all ? "" : " of environment \(scope)")",
                             remedy: "check it with 'rotor status'; nothing was rotated")
        }
        let ids = selected.map(\.id)
        var edges: [DependencyEdge] = []
        var notes: [String] = []
        for secret in selected {
            let (found, note) = try await dependencyEdges(of: secret, policy: policies(secret.id), among: ids)
            edges += found
            if let note { notes.append(note) }
        }
        let graph = DependencyGraph(nodes: ids, edges: edges)
        let byID = Dictionary(uniqueKeysWithValues: selected.map { ($0.id, $0) })
        let items = try graph.order().map { id in
            let secret = byID[id]!
            return BatchItem(id: id, rotator: secret.rotator, policy: policies(id)?.name, dependsOn: graph.dependencies[id] ?? [],
                             needsPerson: needsPerson(secret))
        }
        return BatchPlan(selection: selection, items: items, notes: notes)
    }

    /// What `secret` uses among `candidates`: its policy's `depends_on`, and the secrets of its
    /// environment its rotator reads (a master secret named in the value, a key named in the
    /// options). A value that cannot be parsed gives a note instead of edges; any other error is
    /// thrown (planning stops rather than miss a dependency).
    public func dependencyEdges(of secret: ManagedSecret, policy: RotationPolicy?, among candidates: [SecretID]) async throws -> ([DependencyEdge], note: String?) {
        var edges = policy?.declaredDependencies(of: secret.id, among: candidates) ?? []
        do {
            let rotator = try rotators.make(secret.rotator, options: secret.options)
            let (store, id) = (store, secret.id)
            for use in try await rotator.secretsUsed(of: id, current: { try await store.getSecretValue(id, .current).value }) {
                let used = try await store.resolve(nameOrARN: use.secret)
                // A rotation refuses a secret of another environment; it is no dependency.
                guard used.environment == id.environment else { continue }
                edges.append(DependencyEdge(dependent: id, dependency: used, why: use.why))
            }
        } catch {
            let wrapped = RotorError.wrapping(error, secret: secret.id)
            // Only a value that does not say (it does not parse) is noted; any other failure (the store
            // unavailable, access denied, a locked file) stops planning: a dependency missed that way
            // could rotate beside its master.
            guard wrapped.code == .invalidInput else { throw wrapped }
            return (edges, "could not find what \(secret.id) uses: \(wrapped.summary)")
        }
        return (edges, nil)
    }

    func needsPerson(_ secret: ManagedSecret) -> String? {
        guard let rotator = try? rotators.make(secret.rotator, options: secret.options), rotator.valueComesFromOperator else { return nil }
        return "rotator \(secret.rotator) takes its new value from a person: rotor rotate \(secret.id) --value-stdin"
    }
}

extension RotationPolicy {
    /// What its `depends_on` makes `id` wait for among `candidates`.
    public func declaredDependencies(of id: SecretID, among candidates: [SecretID]) -> [DependencyEdge] {
        dependsOn.flatMap { matcher in
            candidates.filter { $0 != id && matcher.matches($0) }.map {
                DependencyEdge(dependent: id, dependency: $0, why: "policy '\(name)' depends_on \(matcher.pattern) at \(location)")
            }
        }
    }
}
