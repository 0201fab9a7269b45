import Foundation
import RotorCore
import RotorHTTP
#if canImport(Glibc)
import Glibc
#endif

/// Runs one reload hook for one notice (``ReloadHook``): a command (the notice as a JSON line on
/// standard input, an environment of `PATH` only, 30 s), a signal to the process in a pid file, or a
/// signed POST. Never a value: the notice names the secret and its new version. Returns `nil` on
/// success, else what went wrong (for the audit log and the retry).
public struct ReloadHookRunner: Sendable {
    let store: any SecretStore
    public let timeout: Duration

    public init(store: any SecretStore, timeout: Duration = .seconds(30)) {
        self.store = store
        self.timeout = timeout
    }

    public func run(_ hook: ReloadHook, _ notice: ReloadNotice) async -> String? {
        do {
            switch hook {
            case .command(let argv): return try await command(argv, notice)
            case .signal(let name, let pidFile): return signal(name, pidFile: pidFile)
            case .webhook(let url, let key): return try await webhook(url, key: key, notice)
            }
        } catch let error as RotorError {
            return error.summary
        } catch let error as PluginSpawnError {
            return "cannot start the hook: \(error.message)"
        } catch {
            return "\(type(of: error))"
        }
    }

    /// What the hook is sent: the notice without the outbox's bookkeeping.
    static func message(_ notice: ReloadNotice) -> [UInt8] {
        let object: [String: Any] = ["type": notice.type, "secretId": notice.secretId, "versionId": notice.versionId, "finishedAt": notice.finishedAt]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    func command(_ argv: [String], _ notice: ReloadNotice) async throws -> String? {
        // As for plug-ins: a program another user could change would run as rotor.
        _ = try PluginCatalog.trustedFile(argv[0])
        let process = PluginProcess(executable: argv[0], arguments: Array(argv.dropFirst()), environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"],
                                    timeout: timeout, outputLimit: 64 << 10, errorLimit: 16 << 10)
        let outcome = try await process.run(input: Self.message(notice) + [0x0A])
        if outcome.timedOut { return "\(argv[0]) did not finish within \(timeout) (its process group was killed)" }
        guard let status = outcome.status else { return "\(argv[0]) was killed by a signal" }
        // Its output is not kept: a hook may print what it reloaded.
        return status == 0 ? nil : "\(argv[0]) exited with status \(status)"
    }

    /// Signals the process in the pid file, only if that process belongs to the pid file's owner
    /// (the service that wrote it) and is not rotor itself: a pid file someone else can write, or a
    /// stale one whose pid was reused, cannot turn rotor's signal against another process.
    func signal(_ name: String, pidFile: String) -> String? {
        let descriptor = open(pidFile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return "cannot open the pid file \(pidFile) (\(String(cString: strerror(errno))))" }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_mode & 0o022 == 0 else {
            return "the pid file \(pidFile) is not a regular file only its owner can write"
        }
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 32) }
        guard count > 0, let pid = Int32(String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              pid > 1 else { return "the pid file \(pidFile) holds no process id" }
        guard pid != getpid(), pid != getppid() else { return "the pid file \(pidFile) names rotor's own process" }
        guard let owner = Self.realUID(of: pid) else { return "process \(pid) from \(pidFile) is not running" }
        guard owner == info.st_uid else {
            return "process \(pid) from \(pidFile) belongs to uid \(owner), not to the pid file's owner (uid \(info.st_uid)): a stale or forged pid file"
        }
        let number: Int32 = switch name {
        case "HUP": SIGHUP
        case "USR1": SIGUSR1
        case "USR2": SIGUSR2
        case "INT": SIGINT
        default: SIGTERM
        }
        guard kill(pid, number) == 0 else { return "cannot signal process \(pid) from \(pidFile): \(String(cString: strerror(errno)))" }
        return nil
    }

    /// The process's real user id, from /proc.
    static func realUID(of pid: Int32) -> UInt32? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
    }

    func webhook(_ text: String, key: SecretID, _ notice: ReloadNotice) async throws -> String? {
        let url = try OutboundURL(text, option: "webhook", kind: "reload")
        let body = Self.message(notice)
        let signingKey = try await store.getSecretValue(key, .current).value
        // The same id on every attempt, so a receiver can drop a repeat (Standard Webhooks).
        let id = "msg_" + notice.deduplicationKey.replacingOccurrences(of: ":", with: "_")
        let timestamp = Int(Date().timeIntervalSince1970)
        let headers = [
            ("Content-Type", "application/json"), ("webhook-id", id), ("webhook-timestamp", "\(timestamp)"),
            ("webhook-signature", WebhookSignature(secret: signingKey.exposedBytes).sign(id: id, timestamp: timestamp, body: body)),
        ]
        do {
            let response = try await OutboundHTTP(timeout: timeout, maxResponseBytes: 64 << 10).send(.POST, url.url, headers: headers, body: body)
            return (200..<300).contains(response.status) ? nil : "\(url.host) answered HTTP \(response.status)"
        } catch let failure as OutboundFailure {
            return "\(url.host) did not answer: \(failure)"
        }
    }
}
