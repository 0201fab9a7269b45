/// How a step that failed with a transient error is retried within one run, and how many
/// failed runs quarantine a secret.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts per step within one run (1 = no retry).
    public var attemptsPerRun: Int
    public var initialBackoff: Duration
    public var maximumBackoff: Duration
    /// Consecutive failed runs after which the secret is quarantined.
    public var failedRunsBeforeQuarantine: Int

    public init(
        attemptsPerRun: Int = 3, initialBackoff: Duration = .milliseconds(200),
        maximumBackoff: Duration = .seconds(10), failedRunsBeforeQuarantine: Int = 3
    ) {
        self.attemptsPerRun = max(1, attemptsPerRun)
        self.initialBackoff = initialBackoff
        self.maximumBackoff = max(initialBackoff, maximumBackoff)
        self.failedRunsBeforeQuarantine = max(1, failedRunsBeforeQuarantine)
    }

    /// The capped exponential ceiling before attempt `attempt + 1` (attempt counts from 1).
    public func backoffCeiling(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let raw = initialBackoff * (1 << exponent)
        return min(raw, maximumBackoff)
    }

    /// Full jitter: a uniformly random delay in `[ceiling/2, ceiling]` so retries spread out
    /// but never collapse to zero. `unit` is a number in `[0, 1)`.
    public func backoff(afterAttempt attempt: Int, unit: Double) -> Duration {
        let ceiling = backoffCeiling(afterAttempt: attempt)
        return ceiling / 2 + ceiling * (min(max(unit, 0), 1) / 2)
    }
}
