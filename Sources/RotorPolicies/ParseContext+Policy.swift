import Foundation
import RotorCore
import Yams

extension ParseContext {
    /// One policy; `nil` (with errors recorded) when it is not valid.
    mutating func policy(_ node: Node) -> RotationPolicy? {
        let before = errors.count
        guard let keys = checkedMapping(node, allowed: Self.policyKeys, what: "a policy") else { return nil }
        guard let name = string(keys["name"], "name"), !name.isEmpty else {
            fail(node, "missing key 'name': every policy needs a name")
            return nil
        }
        let matchers = self.matchers(keys["match"], policy: node)
        let dependsOn = keys["depends_on"].map { self.patterns($0, "depends_on") } ?? []
        let reload = keys["reload"].map { self.reloadHooks($0) } ?? []
        let (rotator, options) = rotatorAndOptions(keys, policy: node)
        let mode = self.mode(keys, policy: node)
        let schedule = self.schedule(keys, policy: node, mode: mode)
        let window = keys["window"].flatMap { self.window($0) }
        let jitter = keys["jitter"].flatMap { duration($0, "jitter") } ?? PolicyDuration(seconds: 0)
        let maxAge = keys["max_age"].flatMap { duration($0, "max_age") }
        let (retry, backoff) = self.retry(keys["retry"])
        let enabled = keys["enabled"].flatMap { bool($0, "enabled") } ?? true
        checkShortPeriod(keys, schedule: schedule, window: window, jitter: jitter, maxAge: maxAge)
        let readers = keys["readers"].map { self.serviceNames($0, "readers") } ?? []
        guard errors.count == before, let rotator else { return nil }
        var policy = RotationPolicy(
            name: name, matchers: matchers, rotator: rotator, options: options, schedule: schedule, window: window, jitter: jitter,
            mode: mode, maxAge: maxAge, retry: retry, failureBackoff: backoff, enabled: enabled, dependsOn: dependsOn, reload: reload, location: location(node))
        policy.readers = readers
        return policy
    }

    /// A list of service names (the second segment of a secret id), or one.
    mutating func serviceNames(_ node: Node, _ key: String) -> [String] {
        var result: [String] = []
        for item in node.sequence.map(Array.init) ?? [node] {
            guard let text = string(item, key) else { continue }
            guard (try? SecretID("/e/\(text)/t/n")) != nil, !text.contains("/"), !text.contains("*") else {
                fail(item, "'\(key)': '\(text.printable(limit: 60))' is not a service name (the second segment of a secret id)")
                continue
            }
            result.append(text)
        }
        return result
    }

    /// A period short enough that the credential's lifetime is near it (GitHub App tokens: every 50m,
    /// max_age 1h) leaves no room for a window (which holds a rotation until it opens, up to a day)
    /// or for a jitter that reaches the maximum age.
    mutating func checkShortPeriod(_ keys: [String: Node], schedule: RotationSchedule?, window: RotationWindow?, jitter: PolicyDuration, maxAge: PolicyDuration?) {
        guard case .every(let period)? = schedule else { return }
        if let window, period.seconds < 86_400 {
            fail(keys["window"], "a window (\(window)) holds a rotation until it opens, up to a day; with 'every' \(period) leave the window out")
        }
        if let maxAge, period.seconds + jitter.seconds >= maxAge.seconds {
            fail(keys["jitter"] ?? keys["every"], "'every' \(period) plus 'jitter' \(jitter) reaches 'max_age' \(maxAge): a rotation could come after the maximum age")
        }
    }

    mutating func matchers(_ node: Node?, policy: Node) -> [SecretMatcher] {
        guard let node else { fail(policy, "missing key 'match': expected a list of secret ids or globs"); return [] }
        let result = patterns(node, "match")
        if result.isEmpty, errors.isEmpty { fail(node, "'match' is empty: expected at least one secret id or glob") }
        return result
    }

    /// A list of secret ids or globs (or one).
    mutating func patterns(_ node: Node, _ key: String) -> [SecretMatcher] {
        var result: [SecretMatcher] = []
        for item in node.sequence.map(Array.init) ?? [node] {
            guard let text = string(item, key) else { continue }
            do { result.append(try SecretMatcher(text)) } catch { fail(item, "'\(key)': \(error.summary)") }
        }
        return result
    }

    mutating func rotatorAndOptions(_ keys: [String: Node], policy: Node) -> (RotatorKind?, RotatorOptions) {
        guard let kindText = string(keys["rotator"], "rotator") else {
            fail(policy, "missing key 'rotator': expected one of \(rotators.kinds.map(\.rawValue).joined(separator: ", "))")
            return (nil, RotatorOptions())
        }
        var values: [String: String] = [:]
        if let optionsNode = keys["options"] {
            if let mapping = optionsNode.mapping {
                for (key, value) in mapping {
                    guard let name = key.string, let text = value.scalar?.string else { fail(key, "options are key: value pairs"); continue }
                    values[name] = text
                }
            } else {
                fail(optionsNode, "'options' must be a mapping of rotator options")
            }
        }
        let options = RotatorOptions(values)
        do {
            _ = try rotators.make(RotatorKind(kindText), options: options)
        } catch {
            fail(error.code == .unknownRotator ? keys["rotator"] : (keys["options"] ?? keys["rotator"]),
                 error.description)
            return (nil, options)
        }
        return (RotatorKind(kindText), options)
    }

    mutating func mode(_ keys: [String: Node], policy: Node) -> RotationMode {
        let text = string(keys["mode"], "mode") ?? "automatic"
        switch text {
        case "automatic":
            if keys["remind_before"] != nil { fail(keys["remind_before"], "'remind_before' is only for mode: manual") }
            return .automatic
        case "manual":
            guard let maxAge = keys["max_age"].flatMap({ duration($0, "max_age") }) else {
                if keys["max_age"] == nil { fail(policy, "mode: manual needs 'max_age' (e.g. 180d)") }
                return .automatic
            }
            let remind = keys["remind_before"].flatMap { duration($0, "remind_before") } ?? PolicyDuration(seconds: 14 * 86_400)
            if remind >= maxAge { fail(keys["remind_before"] ?? policy, "'remind_before' (\(remind)) must be shorter than 'max_age' (\(maxAge))") }
            return .manual(maxAge: maxAge, remindBefore: remind)
        default:
            fail(keys["mode"], "'mode' is '\(text)': expected automatic or manual")
            return .automatic
        }
    }

    mutating func schedule(_ keys: [String: Node], policy: Node, mode: RotationMode) -> RotationSchedule? {
        let every = keys["every"], cron = keys["cron"]
        if case .manual = mode {
            if let node = every ?? cron { fail(node, "a manual policy has no schedule: remove 'every'/'cron' and use 'max_age'") }
            return nil
        }
        switch (every, cron) {
        case (nil, nil):
            fail(policy, "missing schedule: expected 'every: 90d' or 'cron: \"0 3 * * MON\"'")
            return nil
        case (.some(let node), .some):
            fail(node, "'every' and 'cron' exclude each other: keep one")
            return nil
        case (.some(let node), nil):
            if keys["timezone"] != nil { fail(keys["timezone"], "'timezone' applies to 'cron' only (a window has its own)") }
            guard let period = duration(node, "every") else { return nil }
            guard period.seconds >= 300 else { fail(node, "'every' is \(period): the shortest period is 5m"); return nil }
            return .every(period)
        case (nil, .some(let node)):
            guard let text = string(node, "cron") else { return nil }
            let zone = keys["timezone"].flatMap { timeZone($0, "timezone") } ?? TimeZone(identifier: "UTC")!
            do {
                let expression = try CronExpression(text)
                guard expression.next(after: Date(timeIntervalSince1970: 1_700_000_000), in: zone) != nil else {
                    fail(node, "cron '\(text)' never fires (no matching date)")
                    return nil
                }
                return .cron(expression, zone)
            } catch {
                fail(node, error.summary)
                return nil
            }
        }
    }

    mutating func window(_ node: Node) -> RotationWindow? {
        guard let keys = checkedMapping(node, allowed: Self.windowKeys, what: "a window") else { return nil }
        guard let start = string(keys["start"], "start") else { fail(node, "a window needs 'start' (HH:MM)"); return nil }
        guard let length = keys["duration"].flatMap({ duration($0, "duration") }) else {
            if keys["duration"] == nil { fail(node, "a window needs 'duration' (e.g. 4h)") }
            return nil
        }
        let zone = keys["timezone"].flatMap { timeZone($0, "timezone") } ?? TimeZone(identifier: "UTC")!
        do {
            return try RotationWindow(start: start, duration: length, timeZone: zone)
        } catch {
            let durationIsWrong = length.seconds <= 0 || length.seconds > 86_400
            fail((durationIsWrong ? keys["duration"] : keys["start"]) ?? node, error.summary)
            return nil
        }
    }

    mutating func retry(_ node: Node?) -> (RetryPolicy, (initial: PolicyDuration, maximum: PolicyDuration)) {
        let defaults = (initial: PolicyDuration(seconds: 3600), maximum: PolicyDuration(seconds: 86_400))
        guard let node, let keys = checkedMapping(node, allowed: Self.retryKeys, what: "retry") else { return (RetryPolicy(), defaults) }
        let attempts = keys["attempts_per_run"].flatMap { integer($0, "attempts_per_run", range: 1...20) } ?? 3
        let quarantine = keys["failed_runs_before_quarantine"].flatMap { integer($0, "failed_runs_before_quarantine", range: 1...100) } ?? 3
        let initial = keys["initial_backoff"].flatMap { duration($0, "initial_backoff") } ?? defaults.initial
        let maximum = keys["max_backoff"].flatMap { duration($0, "max_backoff") } ?? defaults.maximum
        if maximum < initial { fail(keys["max_backoff"] ?? node, "'max_backoff' (\(maximum)) is shorter than 'initial_backoff' (\(initial))") }
        return (RetryPolicy(attemptsPerRun: attempts, failedRunsBeforeQuarantine: quarantine), (initial, maximum))
    }
}
