import ArgumentParser

/// The `rotor` command tree.
public struct RotorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rotor",
        abstract: "Secret rotation with Secrets Manager's four-step protocol, durable state and automatic rollback.",
        discussion: """
            State lives in --home (default ./.rotor): state.sqlite (journal, audit; never values), \
            store.sqlite (the embedded AES-256-GCM store) and master.key (unless ROTOR_MASTER_KEY is set).
            Exit codes: 0 ok, 1 error, 3 not found, 4 rotation failed, 5 quarantined, 6 store unreadable, 64 usage or invalid input.
            """,
        version: "0.1.0",
        subcommands: [
            SecretCommand.self, Rotate.self, Rollback.self, History.self, Status.self, Unquarantine.self, Audit.self,
            Validate.self, Plan.self, Daemon.self, Agent.self, ReloadHooksCommand.self, ImportCommand.self, PluginCommand.self, IAMCommand.self, StateCommand.self, DaemonsCommand.self,
        ])

    public init() {}
}
