import Foundation
import RotorCore
import RotorPolicies

/// Dependencies for `rotor validate` (cycles) and `rotor plan --explain` (what a secret uses, and what uses it).
enum DependencyChecks {
    /// Every cycle among the ids the policies name exactly and the managed secrets (with what their
    /// rotators read), as an error at the line of a policy whose `depends_on` closes it.
    static func cycles(_ set: PolicySet, managed: [ManagedSecret], engine: RotationEngine?) async -> [PolicyError] {
        let named = set.policies.flatMap { $0.matchers + $0.dependsOn }.filter(\.isExact).compactMap { try? SecretID($0.pattern) }
        let nodes = Array(Set(named + managed.map(\.id))).sorted()
        var edges: [DependencyEdge] = []
        let managedIDs = Set(managed.map(\.id))
        for id in nodes where !managedIDs.contains(id) { edges += set.policy(for: id)?.declaredDependencies(of: id, among: nodes) ?? [] }
        for secret in managed {
            let declared = set.policy(for: secret.id)?.declaredDependencies(of: secret.id, among: nodes) ?? []
            guard let engine else { edges += declared; continue }
            do {
                edges += try await engine.dependencyEdges(of: secret, policy: set.policy(for: secret.id), among: nodes).0
            } catch {
                // The declared ones still count; what the rotator reads could not be checked.
                edges += declared
                Output.error("warning: could not read what \(secret.id) uses (its depends_on is still checked): \(RotorError.wrapping(error, secret: secret.id).summary)")
            }
        }
        let graph = DependencyGraph(nodes: nodes, edges: edges)
        return graph.cycles().map { cycle in
            let declaring = cycle.compactMap { set.policy(for: $0) }.first { !$0.dependsOn.isEmpty } ?? cycle.compactMap { set.policy(for: $0) }.first
            let location = declaring?.location ?? SourceLocation(file: set.files.first ?? "policies", line: 1, column: 1)
            return PolicyError(location, "dependency cycle among \(cycle.map(\.rawValue).joined(separator: ", ")): \(graph.explain(cycle: cycle).joined(separator: "; ")); a batch cannot order them")
        }
    }

    /// "uses X (why)" and "used by Y (why)" lines for one secret, among the managed secrets of its environment.
    static func explain(_ id: SecretID, _ set: PolicySet, runtime: Runtime) async throws -> [String] {
        let managed = try await runtime.state.managedSecrets(in: .only(id.environment))
        let ids = managed.map(\.id)
        var lines: [String] = []
        for secret in managed {
            let (edges, note) = try await runtime.engine.dependencyEdges(of: secret, policy: set.policy(for: secret.id), among: ids)
            if secret.id == id {
                lines += edges.map { "  > uses \($0.dependency): \($0.why) (a batch rotates it first)" }
                if let note { lines.append("  ? \(note)") }
            }
            lines += edges.filter { $0.dependency == id }.map { "  < used by \($0.dependent): \($0.why)" }
        }
        return lines.isEmpty ? ["  = dependencies: none"] : lines
    }
}
