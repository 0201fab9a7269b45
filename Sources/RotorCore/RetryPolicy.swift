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

    /// The wait between a step's attempts: capped exponential with equal jitter (uniform in
    /// `[ceiling/2, ceiling]`, so retries spread out but never collapse to zero).
    public var backoff: Backoff { Backoff(initial: initialBackoff, maximum: maximumBackoff, jitter: .equal) }

    /// The delay before attempt `attempt + 1`; `unit` is a number in `[0, 1)`.
    public func backoff(afterAttempt attempt: Int, unit: Double) -> Duration {
        backoff.delay(afterAttempt: attempt, unit: unit)
    }
}
