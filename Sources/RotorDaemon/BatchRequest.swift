import Foundation
import RotorCore

/// The body of `POST /api/rotations`: the CLI's selection and caps, as JSON. Unknown keys and values
/// out of range are refused (400) with the key named; nothing starts.
struct BatchRequest: Sendable {
    var selection: BatchSelection
    var limits: BatchLimits
    var dryRun = false
    var maxSecrets = 100
    var yes = false
    /// Who asked, as the caller names itself (recorded as said; the actor is the token).
    var requestedBy: String
    /// The audit actor of every API batch: what authenticated it.
    static let actor = "api-token"

    static let keys: Set<String> = [
        "match", "policy", "service", "environment", "maxConcurrent", "maxConcurrentPerRotator", "stopOnError", "dryRun", "maxSecrets", "yes", "requestedBy",
    ]

    /// Parses a body; the daemon's caps bound the batch's.
    static func parse(_ data: Data, daemon: SchedulerConfiguration) throws(RotorError) -> BatchRequest {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw invalid("the body is not a JSON object")
        }
        if let unknown = object.keys.first(where: { !keys.contains($0) }) {
            guard unknown.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }) else { throw invalid("an unknown key") }
            throw invalid("unknown key '\(unknown.prefix(40))'; expected \(keys.sorted().joined(separator: ", "))")
        }
        var selection = BatchSelection()
        let patterns: [Any] = (object["match"] as? [Any]) ?? (object["match"].map { [$0] } ?? [])
        guard patterns.count <= 32 else { throw invalid("'match' has \(patterns.count) patterns; at most 32") }
        for pattern in patterns {
            guard let text = pattern as? String else { throw invalid("'match' must be a string or a list of strings") }
            do { selection.matchers.append(try SecretMatcher(text)) } catch { throw invalid("'match': \(error.summary)") }
        }
        selection.policy = try string(object, "policy")
        selection.service = try string(object, "service")
        if let name = try string(object, "environment") {
            do { selection.environment = try Environment(name) } catch { throw invalid("'environment': \(error.summary)") }
            guard daemon.scope.contains(environment: selection.environment!) else {
                throw RotorError(.environmentMismatch, "this daemon acts on environment '\(daemon.scope)', not '\(name)'")
            }
        }
        guard !selection.isEmpty else { throw invalid("select secrets with 'match', 'policy', 'service' or 'environment'") }
        let limits = BatchLimits(
            maxConcurrent: try integer(object, "maxConcurrent", 1...daemon.maxConcurrent) ?? daemon.maxConcurrent,
            maxConcurrentPerRotator: try integer(object, "maxConcurrentPerRotator", 1...daemon.maxConcurrentPerRotator) ?? daemon.maxConcurrentPerRotator,
            stopOnError: try bool(object, "stopOnError") ?? false)
        let requestedBy = try string(object, "requestedBy") ?? "unnamed"
        guard requestedBy.count <= 64, requestedBy.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f }) else {
            throw invalid("'requestedBy' must be at most 64 printable ASCII characters")
        }
        var request = BatchRequest(selection: selection, limits: limits, requestedBy: requestedBy)
        request.dryRun = try bool(object, "dryRun") ?? false
        request.yes = try bool(object, "yes") ?? false
        request.maxSecrets = try integer(object, "maxSecrets", 1...1_000_000) ?? 100
        return request
    }

    static func string(_ object: [String: Any], _ key: String) throws(RotorError) -> String? {
        guard let value = object[key] else { return nil }
        guard let text = value as? String, !text.isEmpty, text.count <= 512 else { throw invalid("'\(key)' must be a non-empty string") }
        return text
    }

    static func integer(_ object: [String: Any], _ key: String, _ range: ClosedRange<Int>) throws(RotorError) -> Int? {
        guard let value = object[key] else { return nil }
        guard let number = value as? NSNumber, !isBool(number), let whole = Int(exactly: number.doubleValue), range.contains(whole) else {
            throw invalid("'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound) (the daemon's own cap)")
        }
        return whole
    }

    static func bool(_ object: [String: Any], _ key: String) throws(RotorError) -> Bool? {
        guard let value = object[key] else { return nil }
        guard let number = value as? NSNumber, isBool(number) else { throw invalid("'\(key)' must be true or false") }
        return number.boolValue
    }

    /// JSON's true and false, not the numbers 1 and 0 (JSONSerialization gives both as NSNumber).
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    static func invalid(_ problem: String) -> RotorError { RotorError(.invalidParameter, "POST /api/rotations: \(problem)") }
}

extension EnvironmentScope {
    func contains(environment: Environment) -> Bool {
        switch self {
        case .all: true
        case .only(let own): own == environment
        }
    }
}
