/// Operator actions besides rotating: creating managed secrets, rolling back, unquarantining.
extension RotationEngine {
    /// Creates a secret in the store with its first value and registers it as managed.
    @discardableResult
    public func createManagedSecret(
        _ id: SecretID, rotator kind: RotatorKind, options: RotatorOptions, initialValue: SecretValue,
        description: String? = nil
    ) async throws -> ManagedSecret {
        let managed = try admitted(id, rotator: kind, options: options, value: initialValue)
        if try await state.managedSecret(id) != nil {
            throw RotorError(.secretExists, "secret is already managed by rotor", secret: id, remedy: "pick another id, or rotate it with 'rotor rotate \(id)'")
        }
        let tags = ["rotor:rotator": kind.rawValue]
        _ = try await store.createSecret(CreateSecretInput(id: id, description: description, tags: tags, initialValue: initialValue))
        try await state.register(managed, audit: audit(id, "secret.create", "created", "rotator \(kind)"))
        return managed
    }

    /// Registers a secret that already exists in the store (e.g. created in Secrets Manager by other
    /// tools) as managed by rotor, without changing its value. The value is read only when the rotator
    /// records facts from it, tracks its expiry or must be checked against it.
    @discardableResult
    public func manageExistingSecret(_ id: SecretID, rotator kind: RotatorKind, options: RotatorOptions) async throws -> ManagedSecret {
        let rotator = try rotators.make(kind, options: options)
        let description = try await store.describeSecret(id)
        guard description.holder(of: .current) != nil else {
            throw RotorError(.invalidRequest, "secret has no AWSCURRENT version", secret: id, remedy: "put a value in it first")
        }
        let needsValue = try !rotators.descriptor(kind).recordedKeys.isEmpty || rotator.credentialsExpire || OutsideCredential.guards(rotator, options: options)
        let value = needsValue ? try await store.getSecretValue(id, .current).value : nil
        let managed = try admitted(id, rotator: kind, options: options, value: value)
        try await state.register(managed, audit: audit(id, "secret.manage", "registered", "rotator \(kind), existing secret"))
        return managed
    }

    /// The managed row for a secret whose current value is `value`: the options with the facts
    /// recorded from it, and the credential's expiry. Refused when the rotator would fake a rotation
    /// of it (see ``requireTarget(_:rotator:options:value:)``).
    private func admitted(_ id: SecretID, rotator kind: RotatorKind, options: RotatorOptions, value: SecretValue?) throws -> ManagedSecret {
        let recorded = try value.map { try rotators.descriptor(kind).recordingOptions(options, from: $0, secret: id) } ?? options
        let rotator = try rotators.make(kind, options: recorded)
        if let value, OutsideCredential.guards(rotator, options: recorded), let refusal = OutsideCredential.refusal(id, rotator: kind, value: value) {
            throw refusal
        }
        return ManagedSecret(id: id, rotator: kind, options: recorded, createdAt: clock.now(), credentialExpiresAt: value.flatMap(rotator.credentialExpiry(of:)))
    }

    /// Moves `AWSCURRENT` back to the `AWSPREVIOUS` version (which then takes `AWSPREVIOUS` itself),
    /// after the rotator re-applies the previous value to its target where it has one.
    /// Holds the secret's lock, like a rotation.
    public func rollbackToPrevious(_ id: SecretID) async throws -> (restored: VersionID, replaced: VersionID) {
        let result = try await withSecretLock(id) { _ in
            do { return try await rollbackHoldingLock(id) } catch let interrupted as RunInterrupted { throw interrupted.error }
        }
        // The consumers' caches must drop the bad value at once, as after a rotation.
        await configuration.rotationFinished?(id, result.restored)
        return result
    }

    private func rollbackHoldingLock(_ id: SecretID) async throws -> (restored: VersionID, replaced: VersionID) {
        let managed = try await requireManaged(id)
        if let open = try await state.openRotation(for: id) {
            throw RotorError(
                .invalidRequest, "rotation \(open.token) is still open (\(open.outcome.rawValue))", secret: id,
                remedy: "finish or roll it back first with 'rotor rotate \(id)'")
        }
        let description = try await store.describeSecret(id)
        guard let currentID = description.holder(of: .current), let previousID = description.holder(of: .previous) else {
            throw RotorError(.nothingToRollBack, "secret has no AWSPREVIOUS version to roll back to", secret: id, remedy: "nothing to do")
        }
        let rotator = try rotators.make(managed.rotator, options: managed.options)
        let previous = try await valueToPromote(id, previousID, replacing: currentID)
        if rotator.hasTarget {
            let current = try await store.getSecretValue(id, VersionSelector(versionID: currentID)).value
            let context = RotationContext(secret: id, token: previousID, store: store, logger: stepLogger(id, token: previousID, step: "rollback"), now: clock.now())
            try await withHeartbeat("rollback", secret: id) { try await rotator.rollback(RollbackRequest(restore: previous, discard: current), context: context) }
        }
        try await store.updateSecretVersionStage(UpdateVersionStageInput(id: id, stage: .current, moveTo: previousID, removeFrom: currentID))
        let detail = "AWSCURRENT moved from \(currentID) back to \(previousID)"
        try await state.appendAudit(audit(id, "secret.rollback", "succeeded", detail))
        return (previousID, currentID)
    }

    /// The value of the version `AWSCURRENT` is about to move to; a version without one is refused
    /// before anything changes (consumers would read nothing).
    private func valueToPromote(_ id: SecretID, _ version: VersionID, replacing currentID: VersionID) async throws -> SecretValue {
        do {
            return try await store.getSecretValue(id, VersionSelector(versionID: version)).value
        } catch let error as RotorError where error.code == .versionNotFound {
            throw RotorError(
                .untestedVersion, "version \(version) has no value to roll back to; AWSCURRENT stays on version \(currentID)", secret: id,
                remedy: "inspect the versions with 'rotor secret describe \(id)'; put AWSCURRENT by hand only on a version with a value (runbooks/rollback.md)")
        }
    }

    /// Clears a quarantine so the secret may rotate again.
    public func unquarantine(_ id: SecretID) async throws {
        let managed = try await requireManaged(id)
        guard managed.status == .quarantined || managed.status == .failed else {
            throw RotorError(.invalidRequest, "secret is not quarantined (status \(managed.status.rawValue))", secret: id, remedy: "nothing to do")
        }
        let health = SecretHealthChange(status: .active, failedRuns: 0, lastError: managed.lastError)
        try await state.updateHealth(id, health, audit: audit(id, "secret.unquarantine", "succeeded", "after \(managed.failedRuns) failed runs"))
    }
}
