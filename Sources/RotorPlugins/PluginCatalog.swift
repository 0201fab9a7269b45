import Foundation
import Synchronization
import RotorCore

/// Finds exec plug-ins (`rotor-rotator-KIND` executables) and turns each into a rotator kind: the
/// directories of `--plugins DIR` (in order), then `ROTOR_PLUGIN_PATH` (colon-separated), then
/// `$ROTOR_HOME/plugins`; the first file of a kind wins. A plug-in may not shadow a built-in kind.
public struct PluginCatalog: Sendable {
    public static let prefix = "rotor-rotator-"

    public let directories: [URL]
    let processEnvironment: [String: String]

    public init(directories: [URL], processEnvironment: [String: String]) {
        self.directories = directories
        self.processEnvironment = processEnvironment
    }

    /// The search path: explicit directories, then `ROTOR_PLUGIN_PATH`, then `home/plugins` (if any;
    /// callers pass a home only when the operator named it, never the working directory's default).
    /// A relative `ROTOR_PLUGIN_PATH` entry is refused: it would depend on where rotor is started.
    public static func searchPath(explicit: [String], environment: [String: String], home: URL?) throws(RotorError) -> [URL] {
        let fromEnvironment = (environment["ROTOR_PLUGIN_PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        if let relative = fromEnvironment.first(where: { !$0.hasPrefix("/") }) {
            throw RotorError(.invalidParameter, "ROTOR_PLUGIN_PATH entry '\(relative.prefix(100))' is relative", remedy: "use absolute directories")
        }
        return (explicit.filter { !$0.isEmpty } + fromEnvironment).map { URL(fileURLWithPath: $0).standardizedFileURL }
            + [home?.appendingPathComponent("plugins")].compactMap { $0 }
    }

    /// The executables found, by kind (first on the search path wins).
    public func executables() -> [(kind: RotatorKind, path: String)] {
        var found: [RotatorKind: String] = [:]
        var order: [RotatorKind] = []
        for directory in directories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names.sorted() where name.hasPrefix(Self.prefix) {
                let kind = RotatorKind(String(name.dropFirst(Self.prefix.count)))
                guard found[kind] == nil, Self.isValidKind(kind.rawValue) else { continue }
                found[kind] = directory.appendingPathComponent(name).path
                order.append(kind)
            }
        }
        return order.map { ($0, found[$0]!) }
    }

    /// Adds every plug-in to `registry`. A plug-in that shadows a built-in kind is an error naming its
    /// file. One that cannot be run or describes itself wrongly becomes a kind that refuses to be
    /// used with that error: the secrets and policies that use it fail (`rotor validate` names them
    /// with file and line), the others go on.
    public func register(into registry: inout RotatorRegistry) async throws {
        registry.register(WebhookTransport.descriptor)
        let builtIn = Set(registry.kinds)
        for (kind, path) in executables() {
            guard !builtIn.contains(kind) else {
                throw RotorError(.invalidOption, "plug-in \(path) would shadow the built-in rotator \(kind)",
                                 remedy: "rename it; built-in kinds cannot be replaced")
            }
            do {
                let description = try await Self.describe(kind: kind, path: path, environment: PluginSettings.environment(PluginSettings.baseVariables, from: processEnvironment))
                registry.register(descriptor(kind: kind, path: path, description: description))
            } catch {
                registry.register(Self.unusable(kind: kind, path: path, because: RotorError.wrapping(error)))
            }
        }
    }

    /// A kind whose plug-in is there but cannot be used: every use fails with why.
    static func unusable(kind: RotatorKind, path: String, because error: RotorError) -> RotatorDescriptor {
        RotatorDescriptor(
            kind: kind, summary: "exec plug-in \(path) (unusable: \(error.summary))", options: [:],
            build: { _ throws(RotorError) in throw error }, initialValue: { _, _ in nil }, unusable: error)
    }

    func descriptor(kind: RotatorKind, path: String, description: PluginDescription) -> RotatorDescriptor {
        let environment = processEnvironment
        var help = PluginSettings.rotorOptions
        for (name, option) in description.options { help[name] = option.description + (option.required ? " (required)" : "") }
        let required = description.options.filter(\.value.required).map(\.key).sorted()
        return RotatorDescriptor(
            kind: kind, summary: "exec plug-in \(path)", options: help,
            build: { options throws(RotorError) in
                if let missing = required.first(where: { options[$0] == nil }) {
                    throw RotorError(.invalidOption, "rotator \(kind) needs option \(missing)", remedy: "add \(missing)=VALUE to the policy's options")
                }
                let settings = try PluginSettings(options: options, kind: kind, processEnvironment: environment)
                return ProtocolRotator(
                    kind: kind, hasTarget: description.hasTarget, afterSetFailure: description.direction ?? .rollBack,
                    transport: ExecTransport(kind: kind, executable: path, settings: settings))
            },
            initialValue: { _, _ in nil })
    }

    static func isValidKind(_ kind: String) -> Bool {
        !kind.isEmpty && kind.count <= 64 && kind.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    // MARK: describe, cached per executable path and modification time

    private static let cache = Mutex<[String: (modified: Date, description: PluginDescription)]>([:])

    /// Runs `PATH describe` (or answers from the cache) and checks the answer.
    /// `environment`: the base variables only.
    static func describe(kind: RotatorKind, path: String, environment: [String: String]) async throws -> PluginDescription {
        let modified = try trustedFile(path)
        if let cached = cache.withLock({ $0[path] }), cached.modified == modified { return cached.description }
        let process = PluginProcess(executable: path, arguments: ["describe"], environment: environment, timeout: .seconds(10))
        let outcome: PluginProcess.Outcome
        do { outcome = try await process.run(input: []) } catch let error as PluginSpawnError {
            throw RotorError(.invalidOption, "plug-in \(path) could not be started: \(error.message)")
        }
        guard outcome.status == 0, !outcome.timedOut, !outcome.outputOverLimit,
              let description = try? JSONDecoder().decode(PluginDescription.self, from: Data(outcome.output)) else {
            throw RotorError(.invalidOption, "plug-in \(path) did not describe itself: 'describe' must exit 0 and print one rotor.rotator/v1 JSON object",
                             remedy: "see docs/rotator-protocol.md")
        }
        try check(description, kind: kind, path: path)
        cache.withLock { $0[path] = (modified, description) }
        return description
    }

    static func check(_ description: PluginDescription, kind: RotatorKind, path: String) throws(RotorError) {
        guard description.protocol == PluginProtocol.version else {
            throw RotorError(.invalidOption, "plug-in \(path) speaks \(description.protocol), not \(PluginProtocol.version)")
        }
        guard description.kind == kind.rawValue else {
            throw RotorError(.invalidOption, "plug-in \(path) says its kind is '\(description.kind)'; its file name says '\(kind)'")
        }
        guard description.direction != nil else {
            throw RotorError(.invalidOption, "plug-in \(path): afterSetFailure must be roll-back or roll-forward, not '\(description.afterSetFailure)'")
        }
        if let clash = description.options.keys.first(where: { PluginSettings.rotorOptions[$0] != nil }) {
            throw RotorError(.invalidOption, "plug-in \(path) declares option '\(clash)', which is rotor's own")
        }
    }
}

extension PluginCatalog {
    /// The plug-in's modification time, after checking that rotor may run it: a regular executable
    /// file (symbolic links resolved) that, like its directory, only its owner may change, and whose
    /// owner is this user or root. Anyone else able to write it could run code as rotor.
    static func trustedFile(_ path: String) throws(RotorError) -> Date {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for (what, item) in [("plug-in", resolved), ("plug-in directory", (resolved as NSString).deletingLastPathComponent)] {
            var info = stat()
            guard stat(item, &info) == 0 else { throw RotorError(.invalidOption, "\(what) \(item) cannot be read") }
            guard info.st_uid == geteuid() || info.st_uid == 0 else {
                throw RotorError(.invalidOption, "\(what) \(item) belongs to another user (uid \(info.st_uid)); rotor runs only its own or root's plug-ins")
            }
            guard info.st_mode & 0o022 == 0 else {
                throw RotorError(.invalidOption, "\(what) \(item) can be changed by other users (mode \(String(info.st_mode & 0o777, radix: 8)))",
                                 remedy: "chmod go-w \(item)")
            }
        }
        guard FileManager.default.isExecutableFile(atPath: resolved),
              let modified = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.modificationDate] as? Date else {
            throw RotorError(.invalidOption, "plug-in \(path) is not an executable file", remedy: "chmod +x \(path)")
        }
        return modified
    }
}
