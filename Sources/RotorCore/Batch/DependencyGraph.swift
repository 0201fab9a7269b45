/// One secret needing another while it rotates: `dependent` uses `dependency` (a master credential,
/// a signing key), so `dependency` rotates first and never beside it.
public struct DependencyEdge: Sendable, Hashable {
    public let dependent: SecretID
    public let dependency: SecretID
    /// Why, for `rotor plan --explain` and cycle errors: the policy's `depends_on` (with file:line),
    /// or what the rotator reads.
    public let why: String

    public init(dependent: SecretID, dependency: SecretID, why: String) {
        self.dependent = dependent
        self.dependency = dependency
        self.why = why
    }
}

/// The dependencies among a set of secrets: cycles, and the order that rotates every dependency
/// before the secrets that use it.
public struct DependencyGraph: Sendable {
    public let nodes: [SecretID]
    /// Edges between nodes only, by dependent.
    public let dependencies: [SecretID: [DependencyEdge]]

    /// Keeps only edges whose both ends are nodes, and never a secret on itself.
    public init(nodes: [SecretID], edges: [DependencyEdge]) {
        let members = Set(nodes)
        self.nodes = nodes
        var byDependent: [SecretID: [DependencyEdge]] = [:]
        for edge in edges where edge.dependent != edge.dependency && members.contains(edge.dependent) && members.contains(edge.dependency) {
            if byDependent[edge.dependent]?.contains(where: { $0.dependency == edge.dependency }) == true { continue }
            byDependent[edge.dependent, default: []].append(edge)
        }
        dependencies = byDependent
    }

    /// What `id` waits for.
    public func dependencies(of id: SecretID) -> [SecretID] { dependencies[id]?.map(\.dependency) ?? [] }

    /// Every cycle (each a strongly connected component of two or more secrets), members sorted.
    public func cycles() -> [[SecretID]] {
        var tarjan = Tarjan(graph: self)
        for node in nodes where tarjan.index[node] == nil { tarjan.visit(node) }
        return tarjan.components.filter { $0.count > 1 }.map { $0.sorted() }.sorted { $0[0] < $1[0] }
    }

    /// The nodes with every dependency before its dependents (ties in the nodes' order), or the
    /// error naming the first cycle's members and the edges that make it.
    public func order() throws(RotorError) -> [SecretID] {
        if let cycle = cycles().first { throw cycleError(cycle) }
        var remaining = Dictionary(uniqueKeysWithValues: nodes.map { ($0, Set(dependencies(of: $0))) })
        var ordered: [SecretID] = []
        while !remaining.isEmpty {
            let ready = nodes.filter { remaining[$0]?.isEmpty == true }
            for id in ready { remaining[id] = nil }
            for id in remaining.keys { remaining[id]?.subtract(ready) }
            ordered += ready
        }
        return ordered
    }

    /// The edges inside one cycle, each as "A uses B (why)".
    public func explain(cycle: [SecretID]) -> [String] {
        let members = Set(cycle)
        return cycle.flatMap { id in
            (dependencies[id] ?? []).filter { members.contains($0.dependency) }.map { "\($0.dependent) uses \($0.dependency) (\($0.why))" }
        }
    }

    func cycleError(_ cycle: [SecretID]) -> RotorError {
        RotorError(
            .invalidInput, "dependency cycle among \(cycle.map(\.rawValue).joined(separator: ", ")): \(explain(cycle: cycle).joined(separator: "; "))",
            remedy: "remove one of these depends_on entries (rotor validate shows where); nothing was rotated")
    }
}

/// Tarjan's strongly connected components, iterative over the dependency edges.
private struct Tarjan {
    let graph: DependencyGraph
    var index: [SecretID: Int] = [:]
    var lowLink: [SecretID: Int] = [:]
    var stack: [SecretID] = []
    var onStack: Set<SecretID> = []
    var components: [[SecretID]] = []
    var counter = 0

    init(graph: DependencyGraph) { self.graph = graph }

    mutating func visit(_ root: SecretID) {
        var work: [(node: SecretID, next: Int)] = [(root, 0)]
        enter(root)
        while let (node, next) = work.last {
            let successors = graph.dependencies(of: node)
            if next < successors.count {
                work[work.count - 1].next += 1
                let successor = successors[next]
                if index[successor] == nil {
                    enter(successor)
                    work.append((successor, 0))
                } else if onStack.contains(successor) {
                    lowLink[node] = min(lowLink[node]!, index[successor]!)
                }
                continue
            }
            work.removeLast()
            if let parent = work.last?.node { lowLink[parent] = min(lowLink[parent]!, lowLink[node]!) }
            guard lowLink[node] == index[node] else { continue }
            var component: [SecretID] = []
            while let member = stack.popLast() {
                onStack.remove(member)
                component.append(member)
                if member == node { break }
            }
            components.append(component)
        }
    }

    mutating func enter(_ node: SecretID) {
        index[node] = counter
        lowLink[node] = counter
        counter += 1
        stack.append(node)
        onStack.insert(node)
    }
}
