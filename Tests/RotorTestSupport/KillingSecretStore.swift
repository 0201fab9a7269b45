import RotorCore
import Synchronization

/// A secret store that "kills" the run at its N-th write (PutSecretValue or a label move), after the
/// write reached the store when `afterWrite`, before it otherwise: the run ends with a
/// `CancellationError`, as a killed process would, and the journal says where to resume.
public final class KillingSecretStore: ForwardingSecretStore, Sendable {
    public let base: any SecretStore
    let killAt: Int
    let afterWrite: Bool
    let writes = Mutex(0)

    public init(base: any SecretStore, killAtWrite: Int, afterWrite: Bool) {
        self.base = base
        killAt = killAtWrite
        self.afterWrite = afterWrite
    }

    /// Whether the kill happened.
    public var killed: Bool { writes.withLock { $0 >= killAt } }

    public func putSecretValue(_ input: PutSecretValueInput) async throws -> VersionLedger.PutOutcome {
        try await write { try await base.putSecretValue(input) }
    }

    public func updateSecretVersionStage(_ input: UpdateVersionStageInput) async throws {
        try await write { try await base.updateSecretVersionStage(input) }
    }

    public func updateSecretVersionStages(_ inputs: [UpdateVersionStageInput]) async throws {
        try await write { try await base.updateSecretVersionStages(inputs) }
    }

    private func write<T>(_ body: () async throws -> T) async throws -> T {
        let number = writes.withLock { count in
            count += 1
            return count
        }
        guard number == killAt else { return try await body() }
        if afterWrite { _ = try await body() }
        throw CancellationError()
    }
}
