import Foundation
import RotorCore

/// rotor's own options of a plug-in rotator (the rest go to the plug-in): `timeout` (seconds per
/// step, default 60) and `env` (comma-separated names of variables of rotor's environment to pass).
struct PluginSettings: Sendable {
    static let timeoutOption = "timeout"
    static let environmentOption = "env"
    static let rotorOptions: [String: String] = [
        timeoutOption: "seconds one step may run before its process group is killed (default 60)",
        environmentOption: "comma-separated names of variables of rotor's environment the plug-in also sees",
    ]
    /// Variables the plug-in always gets from rotor's environment, when set.
    static let baseVariables = ["PATH", "HOME", "LANG", "TMPDIR"]
    /// Never passed, whatever a policy lists: rotor's own settings and keys, cloud credentials, and
    /// the dynamic loader's variables (a plug-in is given values, never the keys to other ones).
    static let forbiddenPrefixes = ["ROTOR_", "AWS_", "LD_"]

    var pluginOptions: [String: String]
    var timeout: Duration
    var environment: [String: String]

    init(options: RotatorOptions, kind: RotatorKind, processEnvironment: [String: String]) throws(RotorError) {
        var plugin = options.values
        let timeoutText = plugin.removeValue(forKey: Self.timeoutOption)
        let listed = plugin.removeValue(forKey: Self.environmentOption)
        pluginOptions = plugin
        if let timeoutText {
            guard let seconds = Int(timeoutText), (1...3600).contains(seconds) else {
                throw RotorError(.invalidOption, "option timeout='\(timeoutText.prefix(20))' of rotator \(kind) must be 1-3600 seconds")
            }
            timeout = .seconds(seconds)
        } else {
            timeout = .seconds(60)
        }
        let names = (listed ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let refused = names.first(where: { name in Self.forbiddenPrefixes.contains { name.hasPrefix($0) } }) {
            throw RotorError(.invalidOption, "option env of rotator \(kind) lists \(refused.prefix(64)), which a plug-in never gets (no ROTOR_*, AWS_* or LD_* variable)",
                             remedy: "remove it; give the plug-in what it needs through its own options or a file it reads")
        }
        environment = Self.environment(Self.baseVariables + names, from: processEnvironment)
    }
}

extension PluginSettings {
    /// The named variables of `processEnvironment` that are set.
    static func environment(_ names: [String], from processEnvironment: [String: String]) -> [String: String] {
        names.reduce(into: [:]) { environment, name in
            if let value = processEnvironment[name] { environment[name] = value }
        }
    }
}
