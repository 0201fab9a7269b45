import struct Foundation.Date

/// The source of time for everything rotor decides. Injected, never read ad hoc.
public protocol RotorClock: Sendable {
    /// The current wall-clock time.
    func now() -> Date
    /// Suspends for `duration` (a backoff); throws `CancellationError` when cancelled.
    func sleep(for duration: Duration) async throws
}

/// The real clock.
public struct SystemClock: RotorClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

extension Duration {
    /// The duration in (fractional) seconds.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
