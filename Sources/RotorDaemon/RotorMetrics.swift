import Foundation
import Metrics
import Prometheus
import RotorCore

/// rotor's metrics, through swift-metrics onto a Prometheus registry (no global bootstrap, so
/// several daemons can live in one test process). Labels carry ids and kinds, never values.
public final class RotorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The Prometheus registry's factory, and `also`'s when given (e.g. CloudWatch EMF): for other
    /// components' metrics (the AWS client's calls).
    public let factory: any MetricsFactory
    /// Whether the per-secret series (next rotation, last success) are recorded: opt-in, since their
    /// number, and every scrape's cost, grow with the fleet.
    public let perSecretSeries: Bool

    /// - Parameter also: a second back end every metric also goes to.
    public init(perSecretSeries: Bool = false, also: (any MetricsFactory)? = nil) {
        self.perSecretSeries = perSecretSeries
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
            .seconds(1), .seconds(5), .seconds(30), .seconds(120),
        ]
        self.factory = also.map { MultiplexMetricsHandler(factories: [factory, $0]) } ?? factory
    }

    public func rotation(rotator: RotatorKind, environment: Environment, outcome: String) {
        Counter(label: "rotor_rotations_total", dimensions: [("rotator", rotator.rawValue), ("environment", environment.name), ("outcome", outcome)],
                factory: factory).increment()
        if outcome != RotationOutcome.succeeded.rawValue {
            Counter(label: "rotor_rotation_failures_total", dimensions: [("rotator", rotator.rawValue)], factory: factory).increment()
        }
    }

    public func step(_ step: JournalStep, environment: Environment, duration: Duration) {
        Timer(label: "rotor_step_duration_seconds", dimensions: [("step", step.rawValue), ("environment", environment.name)], factory: factory).recordNanoseconds(
            Int64(duration.seconds * 1e9))
    }

    public func nextRotation(_ secret: SecretID, at date: Date?) {
        guard perSecretSeries else { return }
        Gauge(label: "rotor_next_rotation_timestamp_seconds", dimensions: [("secret", secret.rawValue)], factory: factory)
            .record(date?.timeIntervalSince1970 ?? 0)
    }

    public func lastSuccess(_ secret: SecretID, at date: Date) {
        guard perSecretSeries else { return }
        Gauge(label: "rotor_last_success_timestamp_seconds", dimensions: [("secret", secret.rawValue)], factory: factory).record(date.timeIntervalSince1970)
    }

    /// The fleet-level series, whatever the fleet's size: secrets per status, overdue secrets, the
    /// earliest deadline and the oldest last success (alert on the last two without per-secret series).
    public func fleet(_ summary: FleetSummary) {
        for (status, count) in summary.secrets {
            Gauge(label: "rotor_managed_secrets", dimensions: [("status", status.rawValue)], factory: factory).record(count)
        }
        quarantined(count: summary.secrets[.quarantined] ?? 0)
        Gauge(label: "rotor_overdue_secrets", factory: factory).record(summary.overdue)
        Gauge(label: "rotor_next_rotation_earliest_timestamp_seconds", factory: factory).record(summary.nextDeadline?.timeIntervalSince1970 ?? 0)
        Gauge(label: "rotor_last_success_oldest_timestamp_seconds", factory: factory).record(summary.oldestLastSuccess?.timeIntervalSince1970 ?? 0)
    }

    public func quarantined(count: Int) {
        Gauge(label: "rotor_quarantined_secrets", factory: factory).record(count)
    }

    public func leaseHolder(owner: String, holding: Bool) {
        Gauge(label: "rotor_lease_holder", dimensions: [("owner", owner)], factory: factory).record(holding ? 1 : 0)
    }

    public func pendingAlerts(_ count: Int) {
        Gauge(label: "rotor_alerts_pending", factory: factory).record(count)
    }

    /// The Prometheus text exposition.
    public func render() -> String { registry.emitToString() }
}
