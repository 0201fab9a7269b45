import ArgumentParser
import Foundation
import RotorCore
import RotorPolicies
import Synchronization

extension Rotate {
    /// `rotor rotate --match … [--dry-run]`: plans the batch, then runs it with the caps, printing progress.
    func rotateMany(_ runtime: Runtime) async throws {
        let set = try batchPolicies(runtime)
        let selection = try batch.selection(environment: global.environment)
        let plan = try await runtime.engine.planBatch(selection, scope: runtime.scope) { set?.policy(for: $0) }
        plan.notes.forEach { Output.error("warning: \($0)") }
        if batch.dryRun { return BatchRender.dryRun(plan, limits: batch.limits, json: json) }
        guard plan.items.count <= batch.maxSecrets || batch.yes else {
            throw RotorError(.invalidParameter, "the selection \(selection) has \(plan.items.count) secrets, more than --max-secrets \(batch.maxSecrets)",
                             remedy: "check it with --dry-run, then pass --yes (or a larger --max-secrets); nothing was rotated")
        }
        let job = BatchJob(plan: plan, limits: batch.limits, actor: runtime.engine.configuration.actor, startedAt: Date())
        let interrupt = BatchInterrupt(job.progress)
        let terminal = !json && isatty(STDOUT_FILENO) == 1
        let line = terminal ? ProgressLine(job.progress) : nil
        let snapshot = try await job.run(runtime.engine, rotate: { item in
            let result = await runtime.engine.rotateForBatch(item, trigger: "batch:\(job.id)")
            if result.outcome == .rotated { try? await replan(item.id, runtime: runtime, policies: set) }
            return result
        }, onResult: { result in
            if terminal { line?.show(result) } else { Output.line(BatchRender.resultLine(result)) }
        })
        line?.stop()
        interrupt.cancel()
        await runReloadHooks(runtime, policies: set, for: Set(snapshot.results.filter { $0.outcome == .rotated }.map(\.id)))
        BatchRender.summary(job, snapshot, json: !terminal)
        let status = BatchRender.exitStatus(snapshot, interrupted: interrupt.fired)
        if status != ExitStatus.success { throw ExitCode(status) }
    }

    /// The policies for `depends_on` and `--policy`: required when `--policy` names one or the
    /// directory exists (then they must be valid); otherwise the batch goes on without them.
    func batchPolicies(_ runtime: Runtime) throws -> PolicySet? {
        guard batch.policy != nil || FileManager.default.fileExists(atPath: policies) else {
            Output.error("warning: no policies at \(policies): depends_on is not known (the rotators' own dependencies still are); pass --policies DIR")
            return nil
        }
        return try Plan.validatePolicies(policies, rotators: runtime.engine.rotators)
    }
}

/// Ctrl-C (SIGINT) or SIGTERM during a batch: start nothing more, let running rotations finish.
final class BatchInterrupt {
    let sources: [any DispatchSourceSignal]
    private let received = Received()

    final class Received: Sendable { let flag = Atomic(false) }

    /// Whether a signal stopped the batch (its exit status is then 130).
    var fired: Bool { received.flag.load(ordering: .relaxed) }

    init(_ progress: BatchProgress) {
        let received = received
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                received.flag.store(true, ordering: .relaxed)
                progress.stop("interrupted (\(number == SIGINT ? "SIGINT" : "SIGTERM"))")
                Output.error("\ninterrupted: starting nothing more; \(progress.snapshot.running) running rotation(s) finish or roll back")
            }
            source.resume()
            return source
        }
    }

    func cancel() {
        sources.forEach { $0.cancel() }
        [SIGINT, SIGTERM].forEach { _ = signal($0, SIG_DFL) }
    }
}

/// The live line on a terminal: done, failed, running, remaining, elapsed, estimate; failures
/// printed above it as they happen.
final class ProgressLine: Sendable {
    let progress: BatchProgress
    let task: Task<Void, Never>

    init(_ progress: BatchProgress) {
        self.progress = progress
        task = Task {
            while !Task.isCancelled {
                Self.draw(progress.snapshot)
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    func show(_ result: BatchResult) {
        guard result.outcome != .rotated else { return }
        Self.write("\r\u{1B}[K\(BatchRender.resultText(result))\n")
        Self.draw(progress.snapshot)
    }

    func stop() {
        task.cancel()
        Self.draw(progress.snapshot)
        Self.write("\n")
    }

    static func draw(_ snapshot: BatchProgress.Snapshot) {
        let elapsed = Date().timeIntervalSince(snapshot.startedAt)
        let failed = snapshot.results.count { $0.outcome >= .skipped }
        var text = "\r\u{1B}[Kdone \(snapshot.done)/\(snapshot.total)  failed \(failed)  running \(snapshot.running)  remaining \(snapshot.remaining)  elapsed \(BatchRender.seconds(elapsed))"
        if snapshot.done > 0, snapshot.remaining + snapshot.running > 0 {
            text += "  about \(BatchRender.seconds(elapsed / Double(snapshot.done) * Double(snapshot.remaining + snapshot.running))) left"
        }
        if snapshot.stopReason != nil { text += "  (stopping)" }
        write(text)
    }

    static func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
}
