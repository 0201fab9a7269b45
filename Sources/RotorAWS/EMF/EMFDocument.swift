import Foundation

/// Renders collected series as Embedded Metric Format documents, within the format's limits: one
/// document per combination of dimension and property values, at most 100 metrics per directive
/// and 100 values per metric (more go to further documents).
enum EMFDocument {
    static let maximumMetrics = 100
    static let maximumValues = 100

    static func render(_ series: [EMFMetrics.Key: EMFMetrics.Series], configuration: EMFMetrics.Configuration, timestamp: Int64) -> [String] {
        struct Group: Hashable {
            var dimensions: [String: String]
            var properties: [String: String]
        }
        let groups = Dictionary(grouping: series) { Group(dimensions: $0.key.dimensions, properties: $0.key.properties) }
        var documents: [String] = []
        for group in groups.keys.sorted(by: { describe($0.dimensions, $0.properties) < describe($1.dimensions, $1.properties) }) {
            let metrics = groups[group]!.map { (name: $0.key.name, series: $0.value) }.sorted { $0.name < $1.name }
            for chunk in stride(from: 0, to: metrics.count, by: maximumMetrics).map({ Array(metrics[$0..<min($0 + maximumMetrics, metrics.count)]) }) {
                let rounds = chunk.map { ($0.series.values.count + maximumValues - 1) / maximumValues }.max() ?? 0
                for round in 0..<rounds {
                    let present = chunk.filter { $0.series.values.count > round * maximumValues }
                    documents.append(document(present, round: round, group.dimensions, group.properties, configuration.namespace, timestamp))
                }
            }
        }
        return documents
    }

    static func document(
        _ metrics: [(name: String, series: EMFMetrics.Series)], round: Int, _ dimensions: [String: String], _ properties: [String: String],
        _ namespace: String, _ timestamp: Int64
    ) -> String {
        var root: [String: Any] = [:]
        for (name, value) in properties { root[name] = value }
        for (name, value) in dimensions { root[name] = value }
        var definitions: [[String: Any]] = []
        for metric in metrics {
            let values = Array(metric.series.values.dropFirst(round * maximumValues).prefix(maximumValues))
            root[metric.name] = values.count == 1 ? values[0] as Any : values
            definitions.append(["Name": metric.name, "Unit": metric.series.unit.rawValue])
        }
        root["_aws"] = [
            "Timestamp": timestamp,
            "CloudWatchMetrics": [["Namespace": namespace, "Dimensions": [dimensions.keys.sorted()], "Metrics": definitions]],
        ] as [String: Any]
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func describe(_ dimensions: [String: String], _ properties: [String: String]) -> String {
        (dimensions.sorted { $0.key < $1.key } + properties.sorted { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}
