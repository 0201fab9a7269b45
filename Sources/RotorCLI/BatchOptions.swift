import ArgumentParser
import RotorCore

/// What to do when a secret of a batch fails.
enum BatchErrorMode: String, EnumerableFlag {
    case continueOnError, stopOnError

    static func help(for value: Self) -> ArgumentHelp? {
        switch value {
        case .continueOnError: "Go on with the rest after a failure (its dependents are skipped) (default)."
        case .stopOnError: "Start nothing more after the first failure; running rotations finish."
        }
    }
}

/// `rotor rotate`'s options for many secrets at once.
struct BatchOptions: ParsableArguments {
    @Option(name: .customLong("match"), help: ArgumentHelp("Rotate the managed secrets this id or glob matches (policy syntax: * in a segment, ** across; repeatable).", valueName: "glob"))
    var matchers: [String] = []
    @Option(help: ArgumentHelp("Rotate the secrets this policy covers.", valueName: "name")) var policy: String?
    @Option(help: ArgumentHelp("Rotate the secrets of this service (the id's second segment).", valueName: "name")) var service: String?
    @Flag(help: "Print what would rotate, in which order and with which rotator; change nothing.") var dryRun = false
    @Option(help: "A selection larger than this needs --yes.") var maxSecrets = 100
    @Flag(help: "Rotate a selection larger than --max-secrets.") var yes = false
    @Option(help: "Rotations at once (as the daemon's default).") var maxConcurrent = 8
    @Option(help: "Rotations at once per rotator kind.") var maxConcurrentPerRotator = 4
    @Flag var onError: BatchErrorMode = .continueOnError

    /// Whether any selector is given (the global `--environment` selects when no id is).
    func selects(environment: String?) -> Bool { !matchers.isEmpty || policy != nil || service != nil || environment != nil }

    func check(single id: String?, valueStdin: Bool, environment: String?) throws {
        guard (1...1000).contains(maxConcurrent) else { throw ValidationError("--max-concurrent must be from 1 to 1000, not \(maxConcurrent)") }
        guard (1...1000).contains(maxConcurrentPerRotator) else {
            throw ValidationError("--max-concurrent-per-rotator must be from 1 to 1000, not \(maxConcurrentPerRotator)")
        }
        guard maxSecrets >= 1 else { throw ValidationError("--max-secrets must be at least 1") }
        let many = !matchers.isEmpty || policy != nil || service != nil
        if id != nil {
            guard !many, !dryRun else { throw ValidationError("give a secret id or a selection (--match, --policy, --service), not both; --dry-run is for a selection") }
            return
        }
        guard many || environment != nil else {
            throw ValidationError("give a secret id, or select many with --match, --policy, --service or --environment (try --dry-run first)")
        }
        guard many || yes || dryRun else {
            throw ValidationError("--environment alone selects every secret of the environment: check it with --dry-run, then add --yes")
        }
        guard !valueStdin else { throw ValidationError("--value-stdin rotates one secret: give its id") }
    }

    func selection(environment: String?) throws -> BatchSelection {
        BatchSelection(
            matchers: try matchers.map { try SecretMatcher($0) }, policy: policy, service: service,
            environment: try environment.map { try Environment($0) })
    }

    var limits: BatchLimits {
        BatchLimits(maxConcurrent: maxConcurrent, maxConcurrentPerRotator: maxConcurrentPerRotator, stopOnError: onError == .stopOnError)
    }
}
