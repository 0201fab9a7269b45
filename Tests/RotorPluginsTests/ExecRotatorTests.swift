import Foundation
import Logging
import Synchronization
import Testing
import RotorCore
@testable import RotorPlugins
import RotorRotators
import RotorTestSupport

/// Exec plug-ins (rotor.rotator/v1) run as real processes: a POSIX shell one (the example in
/// examples/rotators) and a Python one with a file as its target and scripted misbehaviour.
@Suite struct ExecRotatorTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-plugins-\(UUID().uuidString)")
    let id = try! SecretID("/prod/shop/api-key/vendor")
    let logs = CapturedLogs()

    var target: URL { directory.appendingPathComponent("target") }

    /// A plug-in directory with both plug-ins, and an engine over in-memory stores that knows them.
    func engine(processEnvironment: [String: String] = ProcessInfo.processInfo.environment) async throws -> RotationEngine {
        let plugins = directory.appendingPathComponent("plugins")
        try FileManager.default.createDirectory(at: plugins, withIntermediateDirectories: true)
        for source in [Self.repository.appendingPathComponent("examples/rotators/rotor-rotator-example-token"),
                       Self.repository.appendingPathComponent("Tests/RotorPluginsTests/Fixtures/rotor-rotator-file-target")] {
            try FileManager.default.copyItem(at: source, to: plugins.appendingPathComponent(source.lastPathComponent))
        }
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [plugins], processEnvironment: processEnvironment).register(into: &registry)
        return RotationEngine(
            store: InMemorySecretStore(), state: InMemoryStateStore(), rotators: registry,
            configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 2, initialBackoff: .milliseconds(1), maximumBackoff: .milliseconds(1))),
            logger: logs.logger)
    }

    func fileTarget(_ engine: RotationEngine, behaviour: String? = nil, timeout: Int? = nil, env: String? = nil) async throws {
        var options = ["target-file": target.path]
        if let behaviour { options["behaviour"] = behaviour }
        if let timeout { options["timeout"] = "\(timeout)" }
        if let env { options["env"] = env }
        try await engine.createManagedSecret(id, rotator: "file-target", options: RotatorOptions(options), initialValue: SecretValue(string: "initial-password"))
        try "initial-password".write(to: target, atomically: true, encoding: .utf8)
    }

    var targetValue: String { (try? String(contentsOf: target, encoding: .utf8)) ?? "" }

    @Test func theShellExampleRotatesAsARotatorKind() async throws {
        let engine = try await engine()
        #expect(engine.rotators.kinds.contains("example-token") && engine.rotators.kinds.contains("file-target"))
        try await engine.createManagedSecret(id, rotator: "example-token", options: RotatorOptions(["bytes": "16"]), initialValue: SecretValue(string: "first"))
        let report = try await engine.rotate(id)
        #expect(report.outcome == .succeeded)
        let value = try await engine.store.getSecretValue(id, .current)
        #expect(value.versionID == report.token && value.value.exposedString?.count == 32)
    }

    @Test func thePythonPluginAppliesAndTestsTheValueOnItsTarget() async throws {
        let engine = try await engine()
        try await fileTarget(engine)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(String(describing: report.error))")
        #expect(targetValue == (try await engine.store.getSecretValue(id, .current).value.exposedString))
    }

    @Test func aPermanentFailureRollsBackAndRestoresTheTarget() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "fail-permanent:testSecret")
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(report.steps.first { $0.step == .testSecret }?.attempts == 1, "permanent: not retried")
        #expect(report.error?.summary.contains("scripted permanent failure") == true)
        #expect(targetValue == "initial-password")
    }

    @Test func aFailureWithoutAnErrorObjectIsTransientAndRetried() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "fail-transient-once:setSecret")
        let report = try await engine.rotate(id)
        #expect(report.outcome == .succeeded)
        #expect(report.steps.first { $0.step == .setSecret }?.attempts == 2)
    }

    /// createSecret refused with a permanent error object: not retried, rolled back, and the store
    /// keeps only the original version (nothing pending, no version without a label left behind).
    @Test func aPermanentCreateSecretFailureLeavesNoNewVersion() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "fail-permanent:createSecret")
        let before = try await engine.store.describeSecret(id).versionIDsToStages
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack && report.error?.summary.contains("scripted permanent failure") == true, "\(String(describing: report.error))")
        let create = report.steps.first { $0.step == .createSecret }
        #expect(create?.attempts == 1 && create?.outcome == .failed, "permanent: not retried")
        #expect(!report.steps.contains { $0.step == .setSecret }, "nothing ran after createSecret")
        let after = try await engine.store.describeSecret(id).versionIDsToStages
        #expect(after == before, "no new version: \(after)")
        #expect(after[report.token] == nil)
        let untouched = targetValue == "initial-password"
        #expect(untouched, "the target was never changed")
    }

    /// The finishSecret hook runs after AWSCURRENT moved: its failure rolls forward (the rotation stays
    /// open, pending retry), and the next run repeats the hook with the same token until it passes.
    @Test func aFailingFinishSecretHookRollsForwardAndIsRepeatedUntilItPasses() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "fail-while-blocked:finishSecret")
        let block = URL(fileURLWithPath: target.path + ".block-finishSecret")
        _ = FileManager.default.createFile(atPath: block.path, contents: nil)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .inProgress && report.error?.code == .pendingRetry, "\(String(describing: report.error))")
        #expect(report.error?.summary.contains("scripted failure while blocked") == true)
        #expect(report.steps.first { $0.step == .finishSecret }?.attempts == 1, "permanent: not retried within the run")
        let current = try await engine.store.getSecretValue(id, .current)
        #expect(current.versionID == report.token, "the hook runs after AWSCURRENT moved")
        let applied = targetValue == current.value.exposedString
        #expect(applied, "the target holds the new AWSCURRENT")

        let blockedAgain = try await engine.rotate(id)
        #expect(blockedAgain.resumed && blockedAgain.token == report.token && blockedAgain.outcome == .inProgress)
        try FileManager.default.removeItem(at: block)
        let finished = try await engine.rotate(id)
        #expect(finished.resumed && finished.token == report.token && finished.outcome == .succeeded, "\(String(describing: finished.error))")
        #expect(try await engine.store.describeSecret(id).versionIDsToStages[report.token] == [.current])
    }

    /// testSecret fails, then the plug-in's rollback fails too: the run ends rolling back with a
    /// rollback-failed error naming both causes, AWSCURRENT untouched; the next run retries the rollback.
    @Test func aFailingRollbackEndsInRollbackFailedAndIsRetriedByTheNextRun() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "fail-permanent:testSecret,fail-while-blocked:rollback")
        let block = URL(fileURLWithPath: target.path + ".block-rollback")
        _ = FileManager.default.createFile(atPath: block.path, contents: nil)
        let original = try await engine.store.getSecretValue(id, .current).versionID
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rollingBack && report.error?.code == .rollbackFailed, "\(String(describing: report.error))")
        let summary = report.error?.summary ?? ""
        #expect(summary.contains("rollback failed after testSecret failed") && summary.contains("scripted permanent failure")
                && summary.contains("scripted failure while blocked"), "\(summary)")
        #expect(report.steps.last?.step == .rollback && report.steps.last?.outcome == .failed)
        #expect(try await engine.store.getSecretValue(id, .current).versionID == original)
        let abandoned = targetValue != "initial-password"
        #expect(abandoned, "the target still holds the abandoned value")
        #expect(try await engine.state.openRotation(for: id)?.token == report.token, "the rotation stays open")

        try FileManager.default.removeItem(at: block)
        let retried = try await engine.rotate(id)
        #expect(retried.resumed && retried.token == report.token && retried.outcome == .rolledBack, "\(String(describing: retried.error))")
        let restored = targetValue == "initial-password"
        #expect(restored, "the rollback restored the target")
        let labels = try await engine.store.describeSecret(id).versionIDsToStages
        #expect(labels[original] == [.current] && !labels.values.contains { $0.contains(.pending) }, "\(labels)")
    }

    /// A plug-in's `{"error": {"kind": "transient"}}` is retried up to the run's attempts; still failing,
    /// setSecret rolls back and finishSecret's hook is left pending retry.
    @Test(arguments: ["setSecret", "finishSecret"])
    func aTransientErrorIsRetriedThenFails(step: String) async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "fail-transient:\(step)")
        let report = try await engine.rotate(id)
        let attempts = report.steps.first { $0.step.rawValue == step }
        #expect(attempts?.attempts == 2 && attempts?.outcome == .failed, "retried to the run's limit of 2")
        #expect(attempts?.note?.contains("scripted transient failure") == true, "\(String(describing: attempts?.note))")
        let history = try await engine.state.rotations(of: id, limit: 1).first?.steps.filter { $0.step.rawValue == step }.map(\.outcome)
        #expect(history == [.failed, .failed])
        if step == "setSecret" {
            let restored = targetValue == "initial-password"
            #expect(report.outcome == .rolledBack && restored, "\(String(describing: report.error))")
        } else {
            #expect(report.outcome == .inProgress && report.error?.code == .pendingRetry, "\(String(describing: report.error))")
        }
    }

    /// describe runs once per executable path and modification time: the same file again is answered
    /// from the cache; a changed file (new contents and time) is described again, and so is the same
    /// file under another path (a hard link).
    @Test func describeIsCachedPerPathAndModificationTime() async throws {
        let plugins = directory.appendingPathComponent("cached")
        let other = directory.appendingPathComponent("linked")
        for folder in [plugins, other] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let counter = directory.appendingPathComponent("describe-calls")
        let path = plugins.appendingPathComponent("rotor-rotator-counted")
        func write(option: String, modified: Date) throws {
            try """
                #!/bin/sh
                [ "$1" = describe ] || exit 1
                echo call >> '\(counter.path)'
                echo '{"protocol": "rotor.rotator/v1", "kind": "counted", "hasTarget": false, "afterSetFailure": "roll-back", "options": {"\(option)": {"required": false, "description": "d"}}}'
                """.write(to: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755, .modificationDate: modified], ofItemAtPath: path.path)
        }
        var calls: Int { ((try? String(contentsOf: counter, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let first = Date(timeIntervalSince1970: 1_700_000_000)
        try write(option: "alpha", modified: first)
        let described = try await PluginCatalog.describe(kind: "counted", path: path.path, environment: [:])
        #expect(described.options.keys.sorted() == ["alpha"] && calls == 1)
        #expect(try await PluginCatalog.describe(kind: "counted", path: path.path, environment: [:]).options.keys.sorted() == ["alpha"])
        #expect(calls == 1, "answered from the cache")

        try write(option: "beta", modified: first.addingTimeInterval(60))
        #expect(try await PluginCatalog.describe(kind: "counted", path: path.path, environment: [:]).options.keys.sorted() == ["beta"])
        #expect(calls == 2, "a changed file is described again")
        #expect(try await PluginCatalog.describe(kind: "counted", path: path.path, environment: [:]).options.keys.sorted() == ["beta"])
        #expect(calls == 2)

        let linked = other.appendingPathComponent("rotor-rotator-counted")
        #expect(link(path.path, linked.path) == 0)
        _ = try await PluginCatalog.describe(kind: "counted", path: linked.path, environment: [:])
        #expect(calls == 3, "the cache is per path: the same file (same time) under another path is described")
    }

    /// A plug-in that floods standard error: rotor drains it (the step succeeds), keeps at most 64 KiB,
    /// and logs no more than that.
    @Test func standardErrorIsCappedAt64KiB() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "stderr-flood:setSecret")
        let report = try await engine.rotate(id)
        #expect(report.outcome == .succeeded, "\(String(describing: report.error))")
        let lines = logs.all.filter { $0.contains("plug-in standard error") && $0.contains("QQQQ") }
        #expect(lines.count == 1)
        let kept = lines.first?.filter { $0 == "Q" }.count ?? 0
        #expect(kept <= 64 << 10 && kept > (64 << 10) - 1024, "kept \(kept) bytes of 1 MiB")
        #expect(!logs.all.joined().contains("STDERR-TAIL"), "nothing past the cap reaches the log")
    }

    @Test func aHangingPluginIsKilledWithItsChildrenAtItsTimeout() async throws {
        let engine = try await engine()
        // 10 s: long enough for the plug-in's earlier steps (and the rollback after it) to start on a
        // loaded machine; 5 s once was not, at the start of make test.
        try await fileTarget(engine, behaviour: "hang:testSecret", timeout: 10)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.summary.contains("did not finish testSecret within 10s") == true, "\(String(describing: report.error))")
        let child = try #require(Int32(try String(contentsOf: target.appendingPathExtension("child-pid"), encoding: .utf8)))
        try await Task.sleep(for: .milliseconds(100))
        // Gone, or a zombie waiting for init to reap it: killed either way.
        let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
        #expect(state == nil || state == "Z", "the plug-in's child went with its process group (state \(String(describing: state)))")
    }

    @Test(arguments: ["garbage:setSecret", "huge:setSecret", "no-value:createSecret"])
    func brokenOutputIsAPermanentProtocolError(behaviour: String) async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: behaviour)
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack)
        #expect(report.error?.summary.contains("broke the rotor.rotator/v1 protocol") == true, "\(String(describing: report.error))")
        #expect(report.steps.allSatisfy { $0.attempts == 1 }, "a protocol error is not retried")
    }

    @Test func valuesOnStandardErrorAreRedactedInRotorsLog() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "echo-stderr:createSecret,echo-stderr:setSecret,echo-stderr:testSecret")
        let report = try await engine.rotate(id)
        #expect(report.outcome == .succeeded)
        let new = try #require(try await engine.store.getSecretValue(id, .current).value.exposedString)
        let log = logs.all.joined(separator: "\n")
        #expect(log.contains("[REDACTED]") && log.contains("debug: pending is"))
        #expect(!log.contains(new) && !log.contains("initial-password"))
    }

    @Test func thePluginSeesAMinimalEnvironment() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["ROTOR_MASTER_KEY"] = "master-key-canary"
        environment["AWS_SECRET_ACCESS_KEY"] = "aws-canary"
        environment["VENDOR_REGION"] = "eu-west-1"
        let engine = try await engine(processEnvironment: environment)
        let dump = directory.appendingPathComponent("env.json")
        try await fileTarget(engine, behaviour: "env-dump:\(dump.path)", env: "VENDOR_REGION")
        #expect(try await engine.rotate(id).outcome == .succeeded)
        let seen = try JSONSerialization.jsonObject(with: Data(contentsOf: dump)) as? [String: String] ?? [:]
        #expect(seen["VENDOR_REGION"] == "eu-west-1")
        // What rotor passes, plus what the interpreter's launcher adds itself (a shell's PWD and SHLVL, pyenv's own).
        let added = seen.keys.filter { !["PATH", "HOME", "LANG", "TMPDIR", "VENDOR_REGION", "PWD", "SHLVL", "_", "LC_CTYPE"].contains($0) && !$0.hasPrefix("PYENV") && !$0.hasPrefix("_PYENV") }
        #expect(added.isEmpty, "\(added.sorted())")
        #expect(seen["ROTOR_MASTER_KEY"] == nil && seen["AWS_SECRET_ACCESS_KEY"] == nil)
    }

    @Test func badOptionsAndShadowingAreClearErrors() async throws {
        let engine = try await engine()
        #expect(throws: RotorError.self) { try engine.rotators.make("file-target", options: RotatorOptions([:])) }
        #expect(throws: RotorError.self) { try engine.rotators.make("file-target", options: RotatorOptions(["target-file": "/x", "colour": "red"])) }
        #expect(throws: RotorError.self) { try engine.rotators.make("file-target", options: RotatorOptions(["target-file": "/x", "env": "ROTOR_MASTER_KEY"])) }
        let shadow = directory.appendingPathComponent("shadow")
        try FileManager.default.createDirectory(at: shadow, withIntermediateDirectories: true)
        let path = shadow.appendingPathComponent("rotor-rotator-random-password")
        try "#!/bin/sh\nexit 0\n".write(to: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path.path)
        var registry = RotatorRegistry.builtIn
        await #expect { try await PluginCatalog(directories: [shadow], processEnvironment: [:]).register(into: &registry) } throws: { error in
            "\(error)".contains("shadow the built-in rotator random-password")
        }
    }

    @Test func anErrorAnswerFailsTheStepEvenWithExitStatusZero() async throws {
        let engine = try await engine()
        try await fileTarget(engine, behaviour: "error-exit-0:testSecret")
        let report = try await engine.rotate(id)
        #expect(report.outcome == .rolledBack && report.error?.summary.contains("refused, but exited 0") == true, "\(String(describing: report.error))")
    }

    @Test func aPluginThatOthersCanChangeIsRefused() async throws {
        _ = try await engine()
        let plugin = directory.appendingPathComponent("plugins/rotor-rotator-file-target")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: plugin.path)
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [plugin.deletingLastPathComponent()], processEnvironment: [:]).register(into: &registry)
        // The kind exists (a policy naming it gets this error with its file and line) but never runs.
        #expect { try registry.make("file-target", options: RotatorOptions(["target-file": "/x"])) } throws: { error in
            "\(error)".contains("can be changed by other users")
        }
    }

    @Test func envNeverPassesRotorsOrCloudVariables() async throws {
        let engine = try await engine()
        for name in ["AWS_SECRET_ACCESS_KEY", "ROTOR_API_TOKEN", "LD_PRELOAD"] {
            #expect(throws: RotorError.self) { try engine.rotators.make("file-target", options: RotatorOptions(["target-file": "/x", "env": "HOME,\(name)"])) }
        }
    }

    /// A plug-in that exits without reading a large request: rotor (here the test process itself)
    /// survives the broken pipe, and the step fails as a protocol error.
    @Test func aPluginThatDoesNotReadItsInputCannotKillRotor() async throws {
        let engine = try await engine()
        let plugin = directory.appendingPathComponent("plugins/rotor-rotator-no-read")
        try """
            #!/bin/sh
            if [ "$1" = describe ]; then echo '{"protocol": "rotor.rotator/v1", "kind": "no-read", "hasTarget": false, "afterSetFailure": "roll-back", "options": {}}'; fi
            exit 0
            """.write(to: plugin, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin.path)
        var registry = RotatorRegistry.builtIn
        try await PluginCatalog(directories: [plugin.deletingLastPathComponent()], processEnvironment: [:]).register(into: &registry)
        let withPlugin = RotationEngine(store: engine.store, state: engine.state, rotators: registry, configuration: engine.configuration)
        try await withPlugin.createManagedSecret(id, rotator: "no-read", options: RotatorOptions(), initialValue: SecretValue(string: String(repeating: "v", count: 300_000)))
        let report = try await withPlugin.rotate(id)
        #expect(report.outcome == .rolledBack && report.error?.summary.contains("printed no JSON object") == true, "\(String(describing: report.error))")
    }

    @Test func redactionCoversTheEscapedAndEncodedFormsOfAValue() {
        let value = SecretValue(string: #"p@ss/w"o\rd 1"#)
        let text = #"raw=p@ss/w"o\rd 1 json=p@ss\/w\"o\\rd 1 url=p%40ss%2Fw%22o%5Crd%201"#
        let redacted = Redaction.redact(text, [value])
        #expect(redacted == "raw=[REDACTED] json=[REDACTED] url=[REDACTED]", "\(redacted)")
    }
}
