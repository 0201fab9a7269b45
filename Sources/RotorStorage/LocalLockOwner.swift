import Foundation

/// Lock owner names that say which process holds a lock:
/// `ACTOR#RANDOM@HOST:PID:START:BOOT:PIDNS` (the process's start time since boot, the kernel's boot id
/// and its PID namespace). A lock left by a process that no longer exists can then be broken at once
/// instead of waiting for it to lapse; anything uncertain (another host or boot, another PID
/// namespace, an unknown format) is never called dead, and its lock lapses after its lifetime.
public enum LocalLockOwner {
    public static func make(actor: String) -> String {
        let pid = getpid()
        return "\(actor)#\(UUID().uuidString.prefix(8).lowercased())@\(hostName):\(pid):\(startTime(of: pid) ?? "?"):\(bootID ?? "?"):\(pidNamespace ?? "?")"
    }

    /// True only when the owner ran on this host, in this boot and PID namespace, and its process is
    /// gone (no such PID, or the PID now belongs to a process started later: reused).
    public static func isDead(_ owner: String) -> Bool {
        guard let at = owner.lastIndex(of: "@") else { return false }
        let fields = owner[owner.index(after: at)...].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 5, fields[0] == hostName, let pid = pid_t(fields[1]), pid > 0, pid != getpid(),
              fields[2] != "?", fields[4] == pidNamespace, fields[4] != "?" else { return false }
        // Another boot id may be another machine with the same name (cloned VMs): never call it dead.
        guard let boot = bootID, fields[3] == boot else { return false }
        guard let start = startTime(of: pid) else { return kill(pid, 0) == -1 && errno == ESRCH }
        return start != fields[2]
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    static let bootID: String? = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)

    static let pidNamespace: String? = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"))
        .map { $0.filter { $0.isNumber } }

    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot), or nil when there is no such process.
    static func startTime(of pid: pid_t) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        return rest.count > 19 ? String(rest[19]) : nil
    }
}
