import Foundation
import RotorCore
import RotorHTTP
import Yams

extension ParseContext {
    /// `reload:`, a list of hooks, each exactly one of `command: [ABSOLUTE-PATH, ARG…]`,
    /// `signal: HUP` with `pid_file: PATH`, or `webhook: URL` with `signing_key_secret: ID`.
    mutating func reloadHooks(_ node: Node) -> [ReloadHook] {
        guard let items = node.sequence else { fail(node, "'reload' must be a list of hooks (command, signal or webhook)"); return [] }
        return items.compactMap { reloadHook($0) }
    }

    mutating func reloadHook(_ node: Node) -> ReloadHook? {
        guard let keys = checkedMapping(node, allowed: Self.reloadKeys, what: "a reload hook") else { return nil }
        let kinds = ["command", "signal", "webhook"].filter { keys[$0] != nil }
        guard kinds.count == 1 else {
            fail(node, "a reload hook has exactly one of 'command', 'signal' or 'webhook'\(kinds.isEmpty ? "" : ", not \(kinds.joined(separator: " and "))")")
            return nil
        }
        switch kinds[0] {
        case "command": return commandHook(keys)
        case "signal": return signalHook(keys, node)
        default: return webhookHook(keys, node)
        }
    }

    private mutating func commandHook(_ keys: [String: Node]) -> ReloadHook? {
        let node = keys["command"]!
        let argv = (node.sequence.map(Array.init) ?? [node]).compactMap { string($0, "command") }
        guard let path = argv.first, path.hasPrefix("/") else {
            fail(node, "'command' must start with an absolute path (the hook runs with no PATH search of the policy author's shell)")
            return nil
        }
        if let extra = ["pid_file", "signing_key_secret"].first(where: { keys[$0] != nil }) { fail(keys[extra], "'\(extra)' does not apply to a command hook") }
        return .command(argv)
    }

    private mutating func signalHook(_ keys: [String: Node], _ node: Node) -> ReloadHook? {
        guard let signal = string(keys["signal"], "signal")?.uppercased().replacingOccurrences(of: "SIG", with: ""),
              ReloadHook.signals.contains(signal) else {
            fail(keys["signal"], "'signal' must be one of \(ReloadHook.signals.joined(separator: ", "))")
            return nil
        }
        guard let pidFile = string(keys["pid_file"], "pid_file"), pidFile.hasPrefix("/") else {
            fail(keys["pid_file"] ?? node, "a signal hook needs 'pid_file': the absolute path of the file holding the process id")
            return nil
        }
        return .signal(signal, pidFile: pidFile)
    }

    private mutating func webhookHook(_ keys: [String: Node], _ node: Node) -> ReloadHook? {
        guard let url = string(keys["webhook"], "webhook") else { return nil }
        do { _ = try OutboundURL(url, option: "webhook", kind: "reload") } catch {
            fail(keys["webhook"], "'webhook': \(error.summary); \(error.remedy ?? "")")
            return nil
        }
        guard let raw = string(keys["signing_key_secret"], "signing_key_secret") else {
            fail(node, "a webhook hook needs 'signing_key_secret': the id of the secret whose value signs the notification")
            return nil
        }
        do {
            return .webhook(url: url, signingKeySecret: try SecretID(raw))
        } catch {
            fail(keys["signing_key_secret"], "'signing_key_secret': \(error.summary)")
            return nil
        }
    }
}
