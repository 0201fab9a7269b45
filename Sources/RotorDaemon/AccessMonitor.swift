import Foundation
import Logging
import RotorCore
import Synchronization

/// Receives consumers' access reports, keeps them (each secret's last read), and raises a
/// `access.suspicious` alert for each rule that fires (``AccessRules``), at most once per rule,
/// secret and reader in the rules' window.
public final class AccessMonitor: Sendable {
    /// Reports are kept this long (the window of the denied-reads rule is shorter).
    static let retention: TimeInterval = 7 * 86_400

    let store: any AccessLogStore
    let rules: AccessRules
    let alerts: AlertCenter
    /// The policies in force (read once per report).
    let policies: @Sendable () -> [RotationPolicy]
    let clock: any RotorClock
    private let alerted = Mutex<[String: Date]>([:])

    public init(store: any AccessLogStore, rules: AccessRules, alerts: AlertCenter, clock: any RotorClock,
                policies: @escaping @Sendable () -> [RotationPolicy]) {
        self.store = store
        self.rules = rules
        self.alerts = alerts
        self.clock = clock
        self.policies = policies
    }

    /// Records `reports` and alerts on what the rules find; returns what fired (alerted or not).
    @discardableResult
    public func receive(_ reports: [AccessReport]) async throws -> [SuspiciousAccess] {
        let now = clock.now()
        // A report recorded before (sent again, fed twice) is not judged again.
        let recorded = try await store.recordAccess(reports, prunedBefore: now.addingTimeInterval(-Self.retention))
        var fired: [SuspiciousAccess] = []
        let policies = self.policies()
        for report in recorded {
            let denied = report.denied > 0 ? try await store.deniedReads(of: report.secret, since: report.last.addingTimeInterval(-rules.window)) : 0
            fired += rules.evaluate(report, policy: policies.first { $0.matches(report.secret) }, deniedInWindow: denied)
        }
        let fresh = fired.filter { firstInWindow($0, now) }
        for finding in fresh.prefix(Self.maximumAlertsPerReport) {
            await alerts.raise(.suspiciousAccess, secret: finding.report.secret, "suspicious access (\(finding.rule.rawValue)): \(finding.why)", details: finding.details)
        }
        if fresh.count > Self.maximumAlertsPerReport {
            let rest = fresh.dropFirst(Self.maximumAlertsPerReport)
            await alerts.raise(.suspiciousAccess, secret: nil, "suspicious access: \(rest.count) more findings in one report (not alerted one by one)",
                               details: ["readers": Set(rest.map(\.report.reader)).sorted().joined(separator: ","), "rules": Set(rest.map(\.rule.rawValue)).sorted().joined(separator: ",")])
        }
        return fired
    }

    /// Alerts one report may raise one by one; the rest are summed up in one.
    static let maximumAlertsPerReport = 20

    func firstInWindow(_ finding: SuspiciousAccess, _ now: Date) -> Bool {
        let key = "\(finding.rule.rawValue)|\(finding.report.secret)|\(finding.report.reader)"
        return alerted.withLock { alerted in
            if let last = alerted[key], now.timeIntervalSince(last) < rules.window { return false }
            alerted[key] = now
            if alerted.count > 10_000 { alerted = alerted.filter { now.timeIntervalSince($0.value) < rules.window } }
            return true
        }
    }
}
