extension RotationEngine {
    /// Resumes the secret's open rotation, or starts a new one after Secrets Manager's mode (a) checks:
    /// a current version must exist, and a stuck `AWSPENDING` is resumed or refused. A new rotation
    /// is journaled by the run's first write.
    /// - Parameter open: the secret's open rotation, as read with `managed` under the lock.
    func openOrStartRotation(_ managed: ManagedSecret, open: RotationRecord?, trigger: String) async throws -> RotationRun {
        let startedAt = clock.now()
        if let open {
            logger.info("resuming interrupted rotation", metadata: ["secret": "\(managed.id)", "token": "\(open.token)"])
            return RotationRun(record: open, resumed: true, runStartedAt: startedAt)
        }
        let (token, adopted, snapshot) = try await chooseToken(for: managed.id)
        let record = RotationRecord(token: token, secret: managed.id, trigger: trigger, startedAt: startedAt)
        let weaknesses = rotators.securityWeaknesses(managed.rotator, options: managed.options)
        let detail = (adopted ? "resumed stuck AWSPENDING version \(token)" : "token \(token)")
            + (weaknesses.isEmpty ? "" : "; security weakened: " + weaknesses.joined(separator: "; "))
        // Journaled with createSecret's intent, before anything of this rotation changes outside.
        let opening = RotationOpening(record: record, audit: audit(managed.id, "rotation.start", "started", detail))
        return RotationRun(record: record, resumed: adopted, runStartedAt: startedAt, snapshot: snapshot, backlog: JournalBacklog(opening: opening))
    }

    /// A fresh token, or the stuck pending version's id when the policy says resume.
    private func chooseToken(for id: SecretID) async throws -> (VersionID, adopted: Bool, SecretSnapshot) {
        var snapshot = SecretSnapshot()
        let description = try await executor.describe(id, &snapshot)
        guard let currentID = description.holder(of: .current) else {
            throw RotorError(
                .invalidRequest, "secret has no AWSCURRENT version to rotate from", secret: id,
                remedy: "put a first value with 'rotor secret create' (--value-stdin or --generate)")
        }
        guard let pendingID = description.holder(of: .pending) else { return (makeToken(), false, snapshot) }
        if pendingID == currentID {
            // A completed rotation whose AWSPENDING was never cleaned up: strip it.
            try await executor.clearPending(pendingID, &snapshot)
            return (makeToken(), false, snapshot)
        }
        switch configuration.stuckPending {
        case .resume:
            return (pendingID, true, snapshot)
        case .refuse:
            throw RotorError(
                .previousRotationIncomplete,
                "a previous rotation isn't complete: AWSPENDING is on version \(pendingID), which is not AWSCURRENT",
                secret: id, remedy: "see runbooks/failed-or-quarantined-rotation.md: resume it with --stuck-pending resume, or remove AWSPENDING from that version")
        }
    }
}
