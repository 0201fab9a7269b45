import Foundation
import Logging
import Synchronization
import RotorCore

/// `rotor plugin check`: runs a rotator (an exec plug-in) through what rotor will ask of it, against
/// the stores it is given (the CLI gives a fresh embedded store in a temporary home), and reports
/// each check with a reason. A plug-in author runs it in their own CI.
public struct PluginConformance: Sendable {
    public struct Check: Sendable {
        public var name: String
        public var passed: Bool
        public var detail: String
    }

    let kind: RotatorKind
    let options: RotatorOptions
    let initialValue: SecretValue
    let rotators: RotatorRegistry
    let makeFreshStores: @Sendable () throws -> (any SecretStore, any RotationStateStore)
    /// Secrets every fresh store holds before a check uses it (a webhook's signing key).
    let seeds: [SecretID: SecretValue]
    let secret = try! SecretID("/check/plugin/conformance/secret")

    public init(
        kind: RotatorKind, options: RotatorOptions, initialValue: SecretValue, rotators: RotatorRegistry, seeds: [SecretID: SecretValue] = [:],
        stores: @escaping @Sendable () throws -> (any SecretStore, any RotationStateStore)
    ) {
        self.kind = kind
        self.options = options
        self.initialValue = initialValue
        self.rotators = rotators
        self.seeds = seeds
        makeFreshStores = stores
    }

    /// A fresh pair of stores holding the seeds.
    private func makeStores() async throws -> (any SecretStore, any RotationStateStore) {
        let (store, state) = try makeFreshStores()
        for (id, value) in seeds.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: value))
        }
        return (store, state)
    }

    /// Every check, in order; later checks still run when one fails.
    public func run() async -> [Check] {
        var checks: [Check] = []
        let logs = LineCollector()
        for value in seeds.values { logs.remember(value) }
        guard let rotator = record(&checks, "describe and options", { () throws -> (any Rotator, String) in
            let rotator = try rotators.make(kind, options: options)
            return (rotator, "hasTarget \(rotator.hasTarget), after a failed test: \(rotator.afterSetFailure.rawValue)")
        }) else { return checks }
        await checks.append(fullRotation(logs))
        await checks.append(stepsTwice(rotator, logs))
        await checks.append(rollbackAfterFailedTest(logs))
        await checks.append(resumeAfterCrash(logs))
        checks.append(hygiene(logs))
        return checks
    }

    private func record<T>(_ checks: inout [Check], _ name: String, _ body: () throws -> (T, String)) -> T? {
        do {
            let (value, detail) = try body()
            checks.append(Check(name: name, passed: true, detail: detail))
            return value
        } catch {
            checks.append(Check(name: name, passed: false, detail: RotorError.wrapping(error).summary))
            return nil
        }
    }

    private func engine(_ logs: LineCollector, rotators: RotatorRegistry? = nil, state wrap: ((any RotationStateStore) -> any RotationStateStore)? = nil) async throws -> RotationEngine {
        let (store, state) = try await makeStores()
        return RotationEngine(
            store: store, state: wrap.map { $0(state) } ?? state, rotators: rotators ?? self.rotators,
            configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 1), actor: "plugin-check"), logger: logs.logger)
    }

    private func fullRotation(_ logs: LineCollector) async -> Check {
        do {
            let engine = try await engine(logs)
            try await engine.createManagedSecret(secret, rotator: kind, options: options, initialValue: initialValue)
            let report = try await engine.rotate(secret)
            guard report.succeeded else { return Check(name: "full rotation", passed: false, detail: report.error?.summary ?? "\(report.outcome)") }
            let current = try await engine.store.getSecretValue(secret, .current)
            logs.remember(current.value)
            guard current.versionID == report.token, current.value.byteCount > 0, current.value != initialValue else {
                return Check(name: "full rotation", passed: false, detail: "AWSCURRENT does not hold a new, non-empty value")
            }
            await logs.collectAudit(engine.state)
            let timings = report.steps.map { "\($0.step) \(Int(($0.duration.seconds * 1000).rounded())) ms" }.joined(separator: ", ")
            return Check(name: "full rotation", passed: true, detail: timings)
        } catch {
            return Check(name: "full rotation", passed: false, detail: RotorError.wrapping(error).summary)
        }
    }

    /// Each step twice with the same token, straight to the rotator, then its rollback twice.
    private func stepsTwice(_ rotator: any Rotator, _ logs: LineCollector) async -> Check {
        let context = RotationContext(secret: secret, token: VersionID(UUID().uuidString.lowercased()), store: (try? await makeStores().0) ?? InMemorySecretStore(),
                                      logger: logs.logger, now: Date())
        var step = "createSecret"
        do {
            let first = try await rotator.createSecret(CreateSecretRequest(current: initialValue), context: context).newValue
            logs.remember(first)
            logs.remember(try await rotator.createSecret(CreateSecretRequest(current: initialValue), context: context).newValue)
            for _ in 0..<2 where rotator.hasTarget {
                step = "setSecret"
                _ = try await rotator.setSecret(SetSecretRequest(current: initialValue, pending: first, previous: nil), context: context)
            }
            for _ in 0..<2 {
                step = "testSecret"
                _ = try await rotator.testSecret(TestSecretRequest(pending: first), context: context)
            }
            for _ in 0..<2 {
                step = "finishSecret"
                _ = try await rotator.finishSecret(FinishSecretRequest(promoted: first, replaced: initialValue), context: context)
            }
            for _ in 0..<2 where rotator.hasTarget {
                step = "rollback"
                try await rotator.rollback(RollbackRequest(restore: initialValue, discard: first), context: context)
            }
            return Check(name: "every step twice with one token", passed: true, detail: rotator.hasTarget ? "all five steps" : "no target: createSecret, testSecret, finishSecret")
        } catch {
            return Check(name: "every step twice with one token", passed: false, detail: "\(step): \(RotorError.wrapping(error).summary)")
        }
    }

    /// A failure injected right after setSecret (testSecret fails for good) must roll back cleanly.
    private func rollbackAfterFailedTest(_ logs: LineCollector) async -> Check {
        let name = "rollback after a failed test"
        do {
            var registry = rotators
            let base = try rotators.descriptor(kind)
            registry.register(RotatorDescriptor(
                kind: kind, summary: base.summary, options: base.options,
                build: { options throws(RotorError) in FailingTest(base: try base.make(options)) }, initialValue: { _, _ in nil }))
            let engine = try await engine(logs, rotators: registry)
            try await engine.createManagedSecret(secret, rotator: kind, options: options, initialValue: initialValue)
            let report = try await engine.rotate(secret)
            let current = try await engine.store.getSecretValue(secret, .current)
            await logs.collectAudit(engine.state)
            guard report.outcome == .rolledBack, current.value == initialValue else {
                return Check(name: name, passed: false, detail: "outcome \(report.outcome.rawValue): \(report.error?.summary ?? "")")
            }
            return Check(name: name, passed: true, detail: "rolled back; AWSCURRENT unchanged")
        } catch {
            return Check(name: name, passed: false, detail: RotorError.wrapping(error).summary)
        }
    }

    /// A run stopped between setSecret and testSecret (as a crash would) resumes with the same token.
    private func resumeAfterCrash(_ logs: LineCollector) async -> Check {
        let name = "resume after a crash between steps"
        do {
            let (store, state) = try await makeStores()
            let crashing = RotationEngine(store: store, state: StopAfterSetSecret(base: state), rotators: rotators,
                                          configuration: EngineConfiguration(retry: RetryPolicy(attemptsPerRun: 1), actor: "plugin-check"), logger: logs.logger)
            try await crashing.createManagedSecret(secret, rotator: kind, options: options, initialValue: initialValue)
            do { _ = try await crashing.rotate(secret) } catch is CancellationError {}
            let open = try await state.openRotation(for: secret)
            let resumed = try await RotationEngine(store: store, state: state, rotators: rotators, logger: logs.logger).rotate(secret)
            if let value = try? await store.getSecretValue(secret, .current).value { logs.remember(value) }
            guard let open, resumed.resumed, resumed.token == open.token, resumed.succeeded else {
                return Check(name: name, passed: false, detail: resumed.error?.summary ?? "the resumed run did not finish the same rotation")
            }
            return Check(name: name, passed: true, detail: "finished with the same token")
        } catch {
            return Check(name: name, passed: false, detail: RotorError.wrapping(error).summary)
        }
    }

    private func hygiene(_ logs: LineCollector) -> Check {
        let name = "no value on standard error, in the log or the audit"
        if logs.lines.contains(where: { $0.contains(PluginFailure.printedAValue) }) {
            return Check(name: name, passed: false, detail: "the plug-in printed a value of the rotation on standard error (rotor redacted it)")
        }
        if let leaked = logs.leakedValue() { return Check(name: name, passed: false, detail: "a value appears in rotor's log: \(leaked)") }
        return Check(name: name, passed: true, detail: "\(logs.lines.count) log lines checked")
    }
}

/// The rotator with a testSecret that fails for good, after the real setSecret ran.
private struct FailingTest: Rotator {
    let base: any Rotator
    var kind: RotatorKind { base.kind }
    var hasTarget: Bool { base.hasTarget }
    var afterSetFailure: FailureDirection { .rollBack }
    var createReadsCurrent: Bool { base.createReadsCurrent }
    func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse { try await base.createSecret(request, context: context) }
    func setSecret(_ request: SetSecretRequest, context: RotationContext) async throws -> SetSecretResponse { try await base.setSecret(request, context: context) }
    func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        throw RotorError(.stepFailed, "failure injected by rotor plugin check", step: .testSecret)
    }
    func finishSecret(_ request: FinishSecretRequest, context: RotationContext) async throws -> FinishSecretResponse { try await base.finishSecret(request, context: context) }
    func rollback(_ request: RollbackRequest, context: RotationContext) async throws { try await base.rollback(request, context: context) }
}

/// Stops the run (as a killed process would) when a journal write records setSecret's completion.
private struct StopAfterSetSecret: ForwardingStateStore {
    let base: any RotationStateStore
    func beginStep(token: VersionID, step: JournalStep, attempt: Int, at: Date, after backlog: JournalBacklog, lockUntil: Date?) async throws -> Int64 {
        if backlog.completedSteps.contains(.setSecret) { throw CancellationError() }
        return try await base.beginStep(token: token, step: step, attempt: attempt, at: at, after: backlog, lockUntil: lockUntil)
    }
}

/// The check's log lines, and the values it saw, to look for one in the other.
final class LineCollector: Sendable {
    private let logs = CapturedLogs()
    private let values = Mutex<[SecretValue]>([])
    var lines: [String] { logs.all }
    var logger: Logger { logs.logger(label: "rotor.plugin-check") }
    func remember(_ value: SecretValue) { values.withLock { $0.append(value) } }
    func append(_ line: String) { logs.append(line) }

    /// The audit events of a store, as lines to search.
    func collectAudit(_ state: any RotationStateStore) async {
        for event in (try? await state.auditEvents(of: nil, limit: 10_000)) ?? [] {
            append("\(event.operation) \(event.outcome) \(event.detail ?? "")")
        }
    }

    /// A description of the first value found in a line (never the value itself).
    func leakedValue() -> String? {
        let lines = self.lines
        return values.withLock { values in
            for (index, value) in values.enumerated() {
                guard let text = value.exposedString, text.count >= 4 else { continue }
                if lines.contains(where: { $0.contains(text) }) { return "value #\(index + 1) (\(text.count) characters)" }
            }
            return nil
        }
    }
}
