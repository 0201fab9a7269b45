import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process for the tests, started with `posix_spawn` directly. Foundation's `Process.run` on
/// Linux over-reads a buffer while it lists `/proc/self/fd` and crashes the test process now and then
/// (swift-corelibs-foundation PR #5472), and it changes the whole process's working directory while it
/// spawns. This covers what the tests use of `Process`, with the same names.
public final class ChildProcess: @unchecked Sendable {
    public var executableURL: URL?
    public var arguments: [String]?
    /// The child's whole environment; `nil` means the test process's own.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// A `FileHandle` or a `Pipe`; `nil` means /dev/null.
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?

    public private(set) var processIdentifier: Int32 = 0
    private let exit = Mutex<Int32?>(nil)

    public init() {}

    /// Starts the child: standard streams as configured, every other descriptor closed, in its own directory.
    public func run() throws {
        guard let executable = executableURL?.path else { throw ChildProcessError("no executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        for (target, stream, reading) in [(Int32(0), standardInput, true), (1, standardOutput, false), (2, standardError, false)] {
            posix_spawn_file_actions_adddup2(&actions, Self.descriptor(stream, reading: reading) ?? null, target)
        }
        guard Self.closeFrom(&actions, 3) == 0 else { throw ChildProcessError("posix_spawn_file_actions_addclosefrom_np failed") }
        if let directory = currentDirectoryURL?.path, Self.changeDirectory(&actions, directory) != 0 {
            throw ChildProcessError("posix_spawn_file_actions_addchdir_np failed")
        }
        let argv = ([executable] + (arguments ?? [])).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw ChildProcessError("posix_spawn \(executable): \(String(cString: strerror(result)))") }
        processIdentifier = pid
        // As Foundation does: the parent's copies of the child's pipe ends are closed.
        if let pipe = standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        for case let pipe as Pipe in [standardOutput, standardError] { try? pipe.fileHandleForWriting.close() }
    }

    /// Whether the child has not exited yet (reaps it once it has).
    public var isRunning: Bool {
        exit.withLock { status in
            guard status == nil, processIdentifier > 0 else { return false }
            var raw: Int32 = 0
            let reaped = waitpid(processIdentifier, &raw, WNOHANG)
            if reaped == processIdentifier || (reaped < 0 && errno == ECHILD) { status = reaped < 0 ? 0 : raw; return false }
            return true
        }
    }

    /// Waits for the child without holding a Swift concurrency thread.
    public func exited() async {
        while isRunning { try? await Task.sleep(for: .milliseconds(5)) }
    }

    /// The same for synchronous code: sleeps between checks, never spins.
    public func waitPolling() {
        while isRunning { usleep(5_000) }
    }

    private var rawStatus: Int32 { exit.withLock { $0 ?? 0 } }
    /// The exit code, or the signal number when a signal ended the child.
    public var terminationStatus: Int32 {
        let raw = rawStatus
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : raw & 0x7f
    }
    public var terminationReason: Process.TerminationReason { rawStatus & 0x7f == 0 ? .exit : .uncaughtSignal }

    private static func descriptor(_ stream: Any?, reading: Bool) -> Int32? {
        switch stream {
        case let handle as FileHandle: handle.fileDescriptor
        case let pipe as Pipe: reading ? pipe.fileHandleForReading.fileDescriptor : pipe.fileHandleForWriting.fileDescriptor
        default: nil
        }
    }

    // glibc 2.34+ has both; Swift's Glibc module does not declare them.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name).map { unsafeBitCast($0, to: type) }
    }
    private static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ fd: Int32) -> Int32 {
        symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self)?(actions, fd) ?? -1
    }
    private static func changeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        symbol("posix_spawn_file_actions_addchdir_np", as: ChangeDirectory.self)?(actions, path) ?? -1
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
