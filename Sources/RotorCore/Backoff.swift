/// Capped exponential backoff: the one formula rotor uses wherever it waits before trying again
/// (a step's attempts, Secrets Manager calls, a secret's failed runs, alert deliveries, the scheduler loop).
public struct Backoff: Sendable, Hashable {
    /// How the delay is spread below the ceiling.
    public enum Jitter: String, Sendable, Hashable {
        /// Exactly the ceiling (deterministic schedules).
        case none
        /// Uniform in `[ceiling/2, ceiling]`: spread out, never near zero.
        case equal
        /// Uniform in `[0, ceiling]` (AWS's recommendation for API retries).
        case full
    }

    public var initial: Duration
    public var maximum: Duration
    public var jitter: Jitter

    public init(initial: Duration, maximum: Duration, jitter: Jitter) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.jitter = jitter
    }

    /// `initial · 2^(attempt-1)`, capped at `maximum`; `attempt` counts from 1.
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        return min(initial * (1 << exponent), maximum)
    }

    /// The delay before attempt `attempt + 1`; `unit` is a random number in `[0, 1)`.
    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt)
        let unit = min(max(unit, 0), 1)
        switch jitter {
        case .none: return ceiling
        case .equal: return ceiling / 2 + ceiling * (unit / 2)
        case .full: return ceiling * unit
        }
    }

    /// The longest total wait over `attempts` attempts (the sum of the ceilings between them).
    public func worstCaseWait(attempts: Int) -> Duration {
        guard attempts > 1 else { return .zero }
        return (1..<attempts).reduce(Duration.zero) { $0 + ceiling(afterAttempt: $1) }
    }
}
