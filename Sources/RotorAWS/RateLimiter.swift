import Foundation
import RotorCore

/// A token bucket: at most `rate` acquisitions per second on average, bursts up to `burst`.
/// Keeps rotor under Secrets Manager's write quota (50 TPS combined for PutSecretValue,
/// UpdateSecretVersionStage and friends) across all concurrent rotations of one process.
public actor RateLimiter: WriteQuota {
    let rate: Double
    let burst: Double
    let clock: any RotorClock
    private var tokens: Double
    private var updated: Date

    public init(perSecond rate: Double, burst: Double? = nil, clock: any RotorClock = SystemClock()) {
        self.rate = rate
        self.burst = burst ?? rate
        self.clock = clock
        tokens = burst ?? rate
        updated = clock.now()
    }

    /// Waits until a token is available and takes it.
    public func acquire() async throws {
        while true {
            refill()
            if tokens >= 1 {
                tokens -= 1
                return
            }
            let wait = (1 - tokens) / rate
            try await clock.sleep(for: .milliseconds(Int64((wait * 1000).rounded(.up))))
        }
    }

    private func refill() {
        let now = clock.now()
        tokens = min(burst, tokens + max(0, now.timeIntervalSince(updated)) * rate)
        updated = now
    }
}
