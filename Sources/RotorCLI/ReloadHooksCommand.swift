import ArgumentParser
import Foundation
import RotorCore
import RotorDaemon
import RotorPolicies

/// `rotor reload-hooks run|pending`: the policies' reload hooks without a daemon (the daemon runs
/// them every two seconds itself).
struct ReloadHooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload-hooks", abstract: "Run or list the reload hooks that follow rotations (policy 'reload:').",
        subcommands: [Run.self, Pending.self])

    /// A dispatcher over the runtime's state, when that state has an outbox.
    static func dispatcher(_ runtime: Runtime, policies set: PolicySet) -> ReloadHookDispatcher? {
        guard let outbox = runtime.state as? any SchedulingStore else { return nil }
        return ReloadHookDispatcher(outbox: outbox, state: runtime.state, store: runtime.store, policies: { set.policies }, clock: SystemClock(), logger: runtime.logger)
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue the hooks of rotations finished since the last pass and run those due.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Policy directory or file.") var policies: String = "schedules"

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let set = try PolicyLoader(rotators: runtime.engine.rotators).load(path: policies)
                guard let dispatcher = ReloadHooksCommand.dispatcher(runtime, policies: set) else { return }
                let delivered = try await dispatcher.pass()
                Output.line("\(delivered) reload hook(s) delivered")
            }
        }
    }

    struct Pending: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a secret's reload hooks not yet delivered, with their last error.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Secret id.") var id: String

        func run() async throws {
            try await runReportingErrors {
                let runtime = try await Runtime.open(global)
                let secret = try await runtime.secretID(id)
                guard let outbox = runtime.state as? any SchedulingStore else { return }
                let pending = try await outbox.pendingOutbox(channel: ReloadHookDispatcher.channel, secret: secret)
                if pending.isEmpty { Output.line("no reload hooks pending for \(secret)") }
                for (record, error) in pending {
                    Output.line("\(record.kind) queued \(record.createdAt.formatted(.iso8601)), \(record.attempts) attempt(s)\(error.map { ", last error: \($0)" } ?? "")")
                }
            }
        }
    }
}
