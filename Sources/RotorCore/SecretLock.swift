import struct Foundation.Date

/// A held per-secret lock. `fence` grows every time the lock changes hands, so a journal write made
/// under an older fence (by a process that was paused, partitioned or too slow) is refused.
public struct SecretLock: Sendable, Hashable {
    public let secret: SecretID
    public let owner: String
    public let fence: Int64

    public init(secret: SecretID, owner: String, fence: Int64) {
        self.secret = secret
        self.owner = owner
        self.fence = fence
    }
}

/// The lock under which the current task writes a rotation's journal. State stores check it in the
/// same transaction as each journal write (``RotationStateStore``), so the check and the write are one.
public enum JournalFence {
    @TaskLocal public static var current: SecretLock?

    /// The error a state store throws when `lock` is no longer the secret's lock.
    public static func lost(_ lock: SecretLock, holder: String?) -> RotorError {
        RotorError(
            .locked, "this process (\(lock.owner)) lost the secret's lock\(holder.map { " to \($0)" } ?? ""); it stopped before its next side effect",
            secret: lock.secret,
            remedy: "nothing to undo: the lock's new holder resumes the rotation with the same token (see 'rotor history \(lock.secret)')")
    }
}
