import CoreMetrics
import Foundation
import Synchronization

/// A swift-metrics back end that writes CloudWatch Embedded Metric Format documents: counters are
/// summed and timers and recorders collected between two ``flush(at:)`` calls, then written as JSON
/// lines (on Lambda's standard output CloudWatch turns them into metrics at no API cost).
///
/// Cardinality stays bounded because only labels named in ``Configuration/dimensions`` (kinds,
/// environments, steps, APIs, outcomes: small fixed sets) become dimensions; labels in
/// ``Configuration/properties`` (a secret id) become searchable members of the document, which
/// CloudWatch Logs Insights can group by but which create no metric; any other label is dropped.
/// Metric names drop the `rotor_` prefix and a `_total`/`_seconds` suffix and become CamelCase
/// (`rotor_aws_calls_total` → `AwsCalls`); timers are in milliseconds.
public final class EMFMetrics: MetricsFactory, Sendable {
    public struct Configuration: Sendable {
        public var namespace: String
        public var dimensions: Set<String>
        public var properties: Set<String>
        /// Dimensions added to every document, e.g. `["component": "lambda"]`.
        public var fixed: [String: String]

        public init(namespace: String = "rotor", dimensions: Set<String> = Self.standardDimensions, properties: Set<String> = ["secret"],
                    fixed: [String: String] = [:]) {
            self.namespace = namespace
            self.dimensions = dimensions
            self.properties = properties
            self.fixed = fixed
        }

        /// The labels rotor's metrics use whose values come from small fixed sets.
        public static let standardDimensions: Set<String> = ["component", "rotator", "environment", "step", "outcome", "api", "service", "result", "status"]
    }

    /// One metric series between flushes: its name, dimension and property values.
    struct Key: Hashable {
        var name: String
        var dimensions: [String: String]
        var properties: [String: String]
    }

    enum Unit: String { case count = "Count", milliseconds = "Milliseconds", none = "None" }

    struct Series {
        var unit: Unit
        var values: [Double]
    }

    let configuration: Configuration
    let series = Mutex<[Key: Series]>([:])
    let write: @Sendable (String) -> Void

    /// - Parameter write: receives each document as one line (default: standard output, flushed).
    public init(_ configuration: Configuration = Configuration(), write: @escaping @Sendable (String) -> Void = EMFMetrics.standardOutput) {
        precondition(configuration.namespace.wholeMatch(of: /[a-zA-Z0-9._#:\/-]{1,255}/) != nil, "EMF namespace must match ^[a-zA-Z0-9._#:/-]{1,255}$")
        self.configuration = configuration
        self.write = write
    }

    public static let standardOutput: @Sendable (String) -> Void = { line in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes what was recorded since the last flush and starts afresh; returns the documents written.
    @discardableResult
    public func flush(at now: Date = Date()) -> [String] {
        let taken = series.withLock { series in
            defer { series = [:] }
            return series
        }
        let documents = EMFDocument.render(taken, configuration: configuration, timestamp: Int64(now.timeIntervalSince1970 * 1000))
        documents.forEach(write)
        return documents
    }

    func record(_ label: String, _ labels: [(String, String)], _ unit: Unit, add value: Double, accumulate: Bool) {
        let key = key(label, labels)
        series.withLock { series in
            var entry = series[key] ?? Series(unit: unit, values: [])
            if accumulate {
                entry.values = [(entry.values.first ?? 0) + value]
            } else {
                entry.values.append(value)
            }
            series[key] = entry
        }
    }

    func key(_ label: String, _ labels: [(String, String)]) -> Key {
        var key = Key(name: Self.metricName(label), dimensions: configuration.fixed, properties: [:])
        for (name, value) in labels {
            if configuration.dimensions.contains(name) {
                key.dimensions[name] = value
            } else if configuration.properties.contains(name) {
                key.properties[name] = value
            }
        }
        return key
    }

    /// `rotor_step_duration_seconds` → `StepDuration`.
    static func metricName(_ label: String) -> String {
        var name = Substring(label)
        if name.hasPrefix("rotor_") { name = name.dropFirst(6) }
        for suffix in ["_total", "_seconds"] where name.hasSuffix(suffix) { name = name.dropLast(suffix.count) }
        return name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    // MARK: - MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(self, label, dimensions, .count) }
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        Handler(self, label, dimensions, .count)
    }
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler(self, label, dimensions, .none) }
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler(self, label, dimensions, .milliseconds) }
    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    final class Handler: CounterHandler, FloatingPointCounterHandler, RecorderHandler, TimerHandler, Sendable {
        let owner: EMFMetrics
        let label: String
        let labels: [(String, String)]
        let unit: Unit

        init(_ owner: EMFMetrics, _ label: String, _ labels: [(String, String)], _ unit: Unit) {
            self.owner = owner
            self.label = label
            self.labels = labels
            self.unit = unit
        }

        func increment(by amount: Int64) { owner.record(label, labels, .count, add: Double(amount), accumulate: true) }
        func increment(by amount: Double) { owner.record(label, labels, .count, add: amount, accumulate: true) }
        func reset() {}
        func record(_ value: Int64) { owner.record(label, labels, unit, add: Double(value), accumulate: false) }
        func record(_ value: Double) { owner.record(label, labels, unit, add: value, accumulate: false) }
        func recordNanoseconds(_ duration: Int64) { owner.record(label, labels, .milliseconds, add: Double(duration) / 1e6, accumulate: false) }
    }
}
