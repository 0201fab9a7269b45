import Foundation

/// The Embedded Metric Format's rules (CloudWatch's specification), checked on a document a test
/// captured: what CloudWatch would reject or silently not extract.
public enum EMFSpec {
    static let units: Set<String> = [
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits",
        "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
        "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    ]

    /// The documents among `lines` (JSON objects with `_aws`), parsed.
    public static func documents(in lines: some Sequence<Substring>) -> [[String: Any]] {
        lines.compactMap { line in
            guard line.hasPrefix("{"), let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  object["_aws"] != nil else { return nil }
            return object
        }
    }

    /// What is wrong with `document` (empty: valid).
    public static func violations(_ document: [String: Any]) -> [String] {
        var problems: [String] = []
        guard let aws = document["_aws"] as? [String: Any] else { return ["no _aws object"] }
        if !(aws["Timestamp"] is Int || aws["Timestamp"] is Int64) { problems.append("_aws.Timestamp is not an integer of milliseconds") }
        guard let directives = aws["CloudWatchMetrics"] as? [[String: Any]] else { return problems + ["_aws.CloudWatchMetrics is not an array of objects"] }
        for directive in directives {
            let namespace = directive["Namespace"] as? String ?? ""
            if namespace.wholeMatch(of: /[a-zA-Z0-9._#:\/-]{1,255}/) == nil { problems.append("namespace '\(namespace)' is invalid") }
            for set in directive["Dimensions"] as? [[String]] ?? [] {
                if set.count > 30 { problems.append("a dimension set has \(set.count) keys (at most 30)") }
                for key in set where !(document[key] is String) { problems.append("dimension '\(key)' has no string member at the root") }
            }
            if directive["Dimensions"] as? [[String]] == nil { problems.append("Dimensions is not an array of arrays of strings") }
            let metrics = directive["Metrics"] as? [[String: Any]] ?? []
            if metrics.count > 100 { problems.append("\(metrics.count) metrics in one directive (at most 100)") }
            for metric in metrics {
                let name = metric["Name"] as? String ?? ""
                if name.isEmpty || name.count > 1024 { problems.append("metric name '\(name)' is invalid") }
                if let unit = metric["Unit"] as? String, !units.contains(unit) { problems.append("metric \(name) has unit '\(unit)'") }
                switch document[name] {
                case is NSNumber: break
                case let values as [NSNumber] where values.count <= 100: break
                default: problems.append("metric \(name) has no number or array of at most 100 numbers at the root")
                }
            }
        }
        return problems
    }
}
