import ServiceLifecycle

/// Writes the metrics recorded by a long-running process (the daemon, the agent) as EMF documents
/// every `interval` (CloudWatch's finest standard resolution is a minute), and once more at shutdown.
public struct EMFFlushService: Service {
    let metrics: EMFMetrics
    let interval: Duration

    public init(_ metrics: EMFMetrics, interval: Duration = .seconds(60)) {
        self.metrics = metrics
        self.interval = interval
    }

    public func run() async throws {
        defer { metrics.flush() }
        while !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            metrics.flush()
        }
    }
}
