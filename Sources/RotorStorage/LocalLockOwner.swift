import Foundation

/// Lock owner names that say which process on which host holds a lock
/// (`ACTOR#RANDOM@HOST:PID`), so a lock left by a process of this host that no longer exists can be
/// broken at once instead of waiting for it to lapse.
public enum LocalLockOwner {
    public static func make(actor: String) -> String {
        "\(actor)#\(UUID().uuidString.prefix(8).lowercased())@\(hostName):\(getpid())"
    }

    /// True only for an owner on this host whose process is gone; unknown formats and other hosts
    /// are never called dead (their locks lapse after their lifetime).
    public static func isDead(_ owner: String) -> Bool {
        guard let at = owner.lastIndex(of: "@"), let colon = owner.lastIndex(of: ":"), at < colon,
              String(owner[owner.index(after: at)..<colon]) == hostName,
              let pid = pid_t(owner[owner.index(after: colon)...]), pid > 0, pid != getpid() else { return false }
        return kill(pid, 0) == -1 && errno == ESRCH
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
