import Foundation
import RotorCore
import Yams

/// Walks one policy file's YAML nodes, collecting policies and errors with their positions.
struct ParseContext {
    let file: String
    let rotators: RotatorRegistry
    var errors: [PolicyError] = []

    static let documentKeys = ["policies"]
    static let policyKeys = [
        "name", "description", "match", "rotator", "options", "every", "cron", "timezone", "window", "jitter",
        "mode", "max_age", "remind_before", "retry", "enabled", "depends_on", "reload", "readers",
    ]
    static let reloadKeys = ["command", "signal", "pid_file", "webhook", "signing_key_secret"]
    static let windowKeys = ["start", "duration", "timezone"]
    static let retryKeys = ["attempts_per_run", "initial_backoff", "max_backoff", "failed_runs_before_quarantine"]

    init(file: String, rotators: RotatorRegistry) {
        self.file = file
        self.rotators = rotators
    }

    func location(_ node: Node?) -> SourceLocation {
        SourceLocation(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1)
    }

    func error(_ node: Node?, _ message: String) -> PolicyError { PolicyError(location(node), message) }

    mutating func fail(_ node: Node?, _ message: String) { errors.append(error(node, message)) }

    mutating func document(_ root: Node) -> [RotationPolicy] {
        guard let mapping = checkedMapping(root, allowed: Self.documentKeys, what: "the document") else { return [] }
        guard let list = mapping["policies"] else { fail(root, "missing key 'policies': expected a list of policies"); return [] }
        guard let items = list.sequence else { fail(list, "'policies' must be a list"); return [] }
        return items.compactMap { policy($0) }
    }

    /// A mapping whose keys are all in `allowed`; reports unknown keys.
    mutating func checkedMapping(_ node: Node, allowed: [String], what: String) -> [String: Node]? {
        guard let mapping = node.mapping else {
            fail(node, "\(what) must be a mapping with keys \(allowed.joined(separator: ", "))")
            return nil
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { fail(key, "keys must be strings"); continue }
            guard allowed.contains(name) else {
                fail(key, "unknown key '\(name)' in \(what): expected one of \(allowed.joined(separator: ", "))")
                continue
            }
            result[name] = value
        }
        return result
    }

    mutating func string(_ node: Node?, _ key: String) -> String? {
        guard let node else { return nil }
        guard let text = node.scalar?.string else { fail(node, "'\(key)' must be a single value"); return nil }
        return text
    }

    mutating func duration(_ node: Node?, _ key: String) -> PolicyDuration? {
        guard let text = string(node, key) else { return nil }
        guard let duration = PolicyDuration(text) else {
            fail(node, "'\(key)' is '\(text)': expected \(PolicyDuration.unitsHelp)")
            return nil
        }
        return duration
    }

    mutating func timeZone(_ node: Node?, _ key: String) -> TimeZone? {
        guard let text = string(node, key) else { return nil }
        guard let zone = TimeZone(identifier: text) else {
            fail(node, "'\(key)' is '\(text)': expected an IANA time zone such as UTC or Europe/Berlin")
            return nil
        }
        return zone
    }

    mutating func bool(_ node: Node?, _ key: String) -> Bool? {
        guard let text = string(node, key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: fail(node, "'\(key)' is '\(text)': expected true or false"); return nil
        }
    }

    mutating func integer(_ node: Node?, _ key: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, key) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            fail(node, "'\(key)' is '\(text)': expected a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }
}
