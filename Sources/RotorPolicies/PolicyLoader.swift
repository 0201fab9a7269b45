import Foundation
import RotorCore
import Yams

/// Reads every `*.yaml`/`*.yml` file of a policy directory (or one file) and checks it completely:
/// unknown keys, durations, cron, time zones, windows, modes, rotator options, duplicate names and
/// ids matched twice. All errors are returned together, each with file:line:column.
public struct PolicyLoader: Sendable {
    public let rotators: RotatorRegistry

    public init(rotators: RotatorRegistry) { self.rotators = rotators }

    /// Loads a directory or a file. Throws the list of every error found.
    public func load(path: String) throws(PolicyErrors) -> PolicySet {
        let files = Self.policyFiles(path)
        guard !files.isEmpty else {
            throw PolicyErrors([PolicyError(SourceLocation(file: path, line: 1, column: 1), "no policy files (*.yaml, *.yml) found")])
        }
        var policies: [RotationPolicy] = []
        var errors: [PolicyError] = []
        for file in files {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            let (found, problems) = parse(text, file: file)
            policies += found
            errors += problems
        }
        errors += Self.crossPolicyErrors(policies)
        guard errors.isEmpty else { throw PolicyErrors(errors) }
        return PolicySet(policies: policies, files: files)
    }

    /// Parses one file's text.
    public func parse(_ text: String, file: String) -> ([RotationPolicy], [PolicyError]) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            return ([], [Self.yamlError(error, file: file)])
        } catch {
            return ([], [PolicyError(SourceLocation(file: file, line: 1, column: 1), "not valid YAML")])
        }
        var context = ParseContext(file: file, rotators: rotators)
        guard let root else { return ([], [context.error(nil, "the file is empty: expected a 'policies:' list")]) }
        let policies = context.document(root)
        return (policies, context.errors)
    }

    static func policyFiles(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { (path as NSString).appendingPathComponent($0) }
    }

    static func yamlError(_ error: YamlError, file: String) -> PolicyError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return PolicyError(SourceLocation(file: file, line: mark.line, column: mark.column), "invalid YAML: \(problem)")
        default:
            return PolicyError(SourceLocation(file: file, line: 1, column: 1), "invalid YAML: \(error)")
        }
    }

    /// Duplicate names, and the same exact id or pattern in two policies.
    static func crossPolicyErrors(_ policies: [RotationPolicy]) -> [PolicyError] {
        var errors: [PolicyError] = []
        var names: [String: RotationPolicy] = [:]
        var patterns: [String: RotationPolicy] = [:]
        for policy in policies {
            if let first = names[policy.name] {
                errors.append(PolicyError(policy.location, "policy name '\(policy.name)' is already used at \(first.location)"))
            }
            names[policy.name] = names[policy.name] ?? policy
            for matcher in policy.matchers {
                if let other = patterns[matcher.pattern], other.name != policy.name {
                    errors.append(PolicyError(policy.location, "'\(matcher.pattern)' is matched by policies '\(other.name)' and '\(policy.name)'; a secret may have one policy"))
                }
                patterns[matcher.pattern] = patterns[matcher.pattern] ?? policy
            }
        }
        for (index, policy) in policies.enumerated() {
            for matcher in policy.matchers where matcher.isExact {
                guard let id = try? SecretID(matcher.pattern) else { continue }
                for other in policies[(index + 1)...] where other.name != policy.name && other.matches(id) && !other.matchers.contains(matcher) {
                    errors.append(PolicyError(other.location, "secret \(id) is matched by policies '\(policy.name)' and '\(other.name)'; a secret may have one policy"))
                }
            }
        }
        return errors
    }
}

/// Every error of a load, printable one per line.
public struct PolicyErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [PolicyError]
    public init(_ errors: [PolicyError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
