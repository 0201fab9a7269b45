import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One run of an executable (a plug-in, a reload hook): argv `[path] + arguments`, `input` on standard input, the given
/// environment only, in a process group of its own. Standard output is kept up to `outputLimit`
/// bytes (more marks the run as over the limit), standard error up to `errorLimit`. At the deadline,
/// or when the calling task is cancelled, the whole group is killed. The blocking work runs on a
/// thread of its own, never on Swift's cooperative pool.
struct PluginProcess: Sendable {
    struct Outcome: Sendable {
        /// The exit status; `nil` when the process was killed by a signal.
        var status: Int32?
        var output: [UInt8]
        var outputOverLimit: Bool
        var errorOutput: [UInt8]
        /// Standard error went on past the kept part.
        var errorOverLimit: Bool
        var timedOut: Bool
    }

    var executable: String
    var arguments: [String]
    var environment: [String: String]
    var timeout: Duration
    var outputLimit = 1 << 20
    var errorLimit = 64 << 10

    /// A plug-in that exits without reading its input must not kill rotor with SIGPIPE (the write
    /// then fails with EPIPE). Process-wide, as NIO does for sockets; the child gets the default back.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    func run(input: [UInt8]) async throws -> Outcome {
        Self.ignoreBrokenPipes
        let group = ProcessGroupHandle()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let thread = Thread { continuation.resume(with: Result { try self.runBlocking(input: input, group: group) }) }
                thread.name = "rotor-plugin"
                thread.start()
            }
        } onCancel: {
            group.kill()
        }
    }

    private func runBlocking(input: [UInt8], group: ProcessGroupHandle) throws -> Outcome {
        var stdinPipe: [Int32] = [0, 0], stdoutPipe: [Int32] = [0, 0], stderrPipe: [Int32] = [0, 0]
        // Close-on-exec: another plug-in spawned at the same time must not inherit these ends (it would
        // hold this one's output open); the child gets its own copies through dup2.
        guard systemPipe2(&stdinPipe, O_CLOEXEC) == 0, systemPipe2(&stdoutPipe, O_CLOEXEC) == 0, systemPipe2(&stderrPipe, O_CLOEXEC) == 0 else {
            throw PluginSpawnError(errno: errno)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        // Nothing else of rotor's reaches the plug-in (the pipes' other ends, a descriptor opened without close-on-exec).
        _ = systemAddCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        var spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // ETXTBSY: the file is open for writing somewhere (being installed, or a descriptor another
        // process inherited while it was written); that passes within moments.
        for _ in 0..<50 where spawned == ETXTBSY {
            usleep(10_000)
            spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        for fd in [stdinPipe[0], stdoutPipe[1], stderrPipe[1]] { close(fd) }
        guard spawned == 0 else {
            for fd in [stdinPipe[1], stdoutPipe[0], stderrPipe[0]] { close(fd) }
            throw PluginSpawnError(errno: spawned)
        }
        group.started(pid)
        let deadline = ContinuousClock.now + timeout
        let exchange = PipeExchange(input: input, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0], outputLimit: outputLimit, errorLimit: errorLimit)
        var status: Int32 = 0
        let exited = exchange.run(until: deadline) && Self.reap(pid, &status, until: deadline)
        if !exited {
            group.kill()
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        }
        // Whatever the plug-in left running in its group goes with it.
        group.finish()
        let normal = (status & 0x7f) == 0
        return Outcome(
            status: exited && normal ? (status >> 8) & 0xff : nil, output: exchange.output, outputOverLimit: exchange.outputOverLimit,
            errorOutput: exchange.errorOutput, errorOverLimit: exchange.errorOverLimit, timedOut: !exited)
    }

    /// Waits for the process to exit until the deadline; true when it did (and was reaped).
    private static func reap(_ pid: pid_t, _ status: inout Int32, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return true }
            if result < 0, errno != EINTR {
                status = 0x7f // not an exit: reported as "killed by a signal", never as success
                return true
            }
            if ContinuousClock.now >= deadline { return false }
            usleep(2_000)
        }
    }
}

/// glibc's pipe2(2), which its Swift module does not export (it needs _GNU_SOURCE).
@_silgen_name("pipe2")
private func systemPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+): the child closes every descriptor from `from` on.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func systemAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

struct PluginSpawnError: Error {
    let errno: Int32
    var message: String { String(cString: strerror(errno)) }
}

/// The plug-in's process group, killable from any thread (deadline, cancellation) until it is finished.
final class ProcessGroupHandle: Sendable {
    private let state = Mutex<(pid: pid_t?, killed: Bool)>((nil, false))

    func started(_ pid: pid_t) {
        let killed = state.withLock { $0.pid = pid; return $0.killed }
        if killed { _ = Glibc.kill(-pid, SIGKILL) }
    }

    func kill() {
        state.withLock { state in
            state.killed = true
            if let pid = state.pid { _ = Glibc.kill(-pid, SIGKILL) }
        }
    }

    /// Kills what is left in the group, once; later calls of ``kill()`` do nothing.
    func finish() {
        state.withLock { state in
            if let pid = state.pid { _ = Glibc.kill(-pid, SIGKILL) }
            state.pid = nil
        }
    }

}

/// Writes standard input and drains standard output and error with poll(2), so neither side can
/// block the other, until both outputs close or the deadline passes.
final class PipeExchange {
    private var input: [UInt8]
    private var written = 0
    private var stdin: Int32
    private let stdout: Int32, stderr: Int32
    private let outputLimit: Int, errorLimit: Int
    private(set) var output: [UInt8] = []
    private(set) var errorOutput: [UInt8] = []
    private(set) var outputOverLimit = false
    private(set) var errorOverLimit = false

    init(input: [UInt8], stdin: Int32, stdout: Int32, stderr: Int32, outputLimit: Int, errorLimit: Int) {
        (self.input, self.stdin, self.stdout, self.stderr) = (input, stdin, stdout, stderr)
        (self.outputLimit, self.errorLimit) = (outputLimit, errorLimit)
        _ = fcntl(stdin, F_SETFL, fcntl(stdin, F_GETFL) | O_NONBLOCK)
        if input.isEmpty { closeInput() }
    }

    deinit {
        if stdin >= 0 { close(stdin) }
        close(stdout)
        close(stderr)
    }

    /// False when the deadline passed first.
    func run(until deadline: ContinuousClock.Instant) -> Bool {
        var open: Set<Int32> = [stdout, stderr]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !open.isEmpty {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if stdin >= 0 { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
            let milliseconds = Int32(min(left.seconds * 1000 + 1, 1000))
            guard poll(&fds, nfds_t(fds.count), milliseconds) >= 0 || errno == EINTR else { return false }
            for entry in fds where entry.revents != 0 {
                if entry.fd == stdin { writeInput(); continue }
                let count = read(entry.fd, &buffer, buffer.count)
                if count <= 0 { if count == 0 || errno != EINTR && errno != EAGAIN { open.remove(entry.fd) }; continue }
                keep(buffer[..<count], from: entry.fd)
            }
        }
        return true
    }

    private func keep(_ bytes: ArraySlice<UInt8>, from fd: Int32) {
        if fd == stdout {
            let room = outputLimit - output.count
            if bytes.count > room { outputOverLimit = true }
            output += bytes.prefix(max(0, room))
        } else {
            let room = errorLimit - errorOutput.count
            if bytes.count > room { errorOverLimit = true }
            errorOutput += bytes.prefix(max(0, room))
        }
    }

    private func writeInput() {
        let count = input[written...].withUnsafeBytes { write(stdin, $0.baseAddress, $0.count) }
        if count > 0 { written += count }
        if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) { closeInput() }
    }

    private func closeInput() {
        close(stdin)
        stdin = -1
        input = []
        written = 0
    }
}
