import Foundation
import RotorCore

/// One upstream's circuit breaker: after `threshold` consecutive transient failures it opens, and no
/// call goes upstream until a cool-down (capped exponential backoff with full jitter, growing with
/// each reopening) has passed; then one probe is let through (half-open): success closes it, failure
/// opens it again. Pure: time and randomness are given.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Date, openings: Int)
        case halfOpen(openings: Int)
    }

    public enum Admission: Sendable, Equatable { case allowed, probe, rejected(until: Date) }

    public let threshold: Int
    public let coolDown: Backoff
    public private(set) var state = State.closed(failures: 0)

    public init(threshold: Int = 5, coolDown: Backoff = Backoff(initial: .seconds(1), maximum: .seconds(60), jitter: .full)) {
        self.threshold = max(1, threshold)
        self.coolDown = coolDown
    }

    /// Whether a call may go upstream now.
    public mutating func admit(now: Date) -> Admission {
        switch state {
        case .closed: return .allowed
        case .halfOpen(_): return .rejected(until: now)
        case .open(let until, let openings):
            guard now >= until else { return .rejected(until: until) }
            state = .halfOpen(openings: openings)
            return .probe
        }
    }

    /// The outcome of an admitted call; `transient` failures count, anything else shows the upstream answers.
    public mutating func record(transientFailure: Bool, now: Date, unit: Double) {
        switch (state, transientFailure) {
        case (_, false):
            state = .closed(failures: 0)
        case (.closed(let failures), true) where failures + 1 < threshold:
            state = .closed(failures: failures + 1)
        case (.closed, true):
            state = .open(until: now.addingTimeInterval(coolDown.delay(afterAttempt: 1, unit: unit).seconds), openings: 1)
        case (.halfOpen(let openings), true), (.open(_, let openings), true):
            state = .open(until: now.addingTimeInterval(coolDown.delay(afterAttempt: openings + 1, unit: unit).seconds), openings: openings + 1)
        }
    }
}
