import Foundation
import PostgresNIO
import RotorCore

/// A write quota every daemon of one state shares (Secrets Manager's 50 writes a second per account
/// and region, not per process): a token bucket in one row, refilled from the database's clock (the
/// hosts' clocks may disagree) and taken in one short statement. A daemon that finds it empty waits on
/// its own, holding no row lock, and tries again. The rate is each caller's (`--aws-write-tps`): give
/// every host the same value, as one host with a higher one lets the whole fleet write faster.
public struct SharedWriteQuota: WriteQuota {
    let store: PostgresStateStore
    public let name: String
    public let perSecond: Double
    public let burst: Double

    public func acquire() async throws {
        while true {
            guard let wait = try await store.takeWriteToken(self) else { return }
            try await Task.sleep(for: .milliseconds(Int64(min(1, max(0.001, wait)) * 1000)))
        }
    }
}

extension PostgresStateStore {
    /// The bucket `name` (e.g. `secretsmanager/us-east-1`), `perSecond` on average, bursts of `burst` (default one second's worth).
    public func writeQuota(_ name: String, perSecond: Double, burst: Double? = nil) -> SharedWriteQuota {
        SharedWriteQuota(store: self, name: name, perSecond: max(0.001, perSecond), burst: max(1, burst ?? perSecond))
    }

    /// Takes one token of `quota`: nil when taken, else the seconds until the next one.
    func takeWriteToken(_ quota: SharedWriteQuota) async throws -> TimeInterval? {
        let (name, rate, burst) = (quota.name, quota.perSecond, quota.burst)
        return try await write("taking a write token") { session in
            let take: PostgresQuery = """
                WITH bucket AS (
                    SELECT name, least(\(burst), tokens + greatest(0, extract(epoch FROM statement_timestamp())::double precision - updated_at) * \(rate)) AS available
                    FROM write_quota WHERE name = \(name) FOR UPDATE)
                UPDATE write_quota q SET tokens = CASE WHEN bucket.available >= 1 THEN bucket.available - 1 ELSE bucket.available END,
                    updated_at = greatest(q.updated_at, extract(epoch FROM statement_timestamp())::double precision)
                FROM bucket WHERE q.name = bucket.name RETURNING bucket.available
                """
            var row = try await session.row(take)
            if row == nil {
                try await session.run("""
                    INSERT INTO write_quota (name, tokens, updated_at) VALUES (\(name), \(burst), extract(epoch FROM statement_timestamp())::double precision)
                    ON CONFLICT (name) DO NOTHING
                    """)
                row = try await session.row(take)
            }
            guard let available = try row?.value("available", as: Double.self) else { return 1 / rate }
            return available >= 1 ? nil : (1 - available) / rate
        }
    }
}
