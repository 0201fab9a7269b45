import Foundation
import Hummingbird
import RotorCore

/// `POST /api/access`: a consumer's access report (`rotor agent --report-to`). Body:
/// `{"reader": {"service", "environment", "host"}, "reads": [{"secret", "reads", "denied", "first", "last"}]}`
/// (times in epoch seconds; at most 1,000 entries). It needs the token, as every write does.
extension ObservabilityAPI {
    static let maximumReportEntries = 1000

    func addAccessRoutes(_ router: Router<BasicRequestContext>) {
        router.post("/api/access") { request, _ in
            guard let monitor = access else { return json(["error": "this daemon keeps no access reports"], status: .notFound) }
            if let refusal = refuseChange(what: "access reports") { return refusal }
            let body = try await request.body.collect(upTo: 1 << 20)
            do {
                let reports = try Self.accessReports(Data(buffer: body), now: engine.clock.now())
                let fired = try await monitor.receive(reports)
                return json(["accepted": reports.count, "suspicious": fired.map { ["rule": $0.rule.rawValue, "secret": $0.report.secret.rawValue] }])
            } catch let error as RotorError {
                return json(["error": error.summary], status: .badRequest)
            }
        }
    }

    /// Parses a report; any entry that is not valid refuses the whole report (nothing is recorded).
    static func accessReports(_ data: Data, now: Date) throws -> [AccessReport] {
        func invalid(_ why: String) -> RotorError { RotorError(.invalidInput, "access report: \(why)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let reader = object["reader"] as? [String: Any],
              let entries = object["reads"] as? [[String: Any]] else { throw invalid("expected {\"reader\": {...}, \"reads\": [...]}") }
        guard let service = reader["service"] as? String, let environment = reader["environment"] as? String,
              (try? SecretID("/\(environment)/\(service)/t/n")) != nil, !service.contains("/") else {
            throw invalid("reader needs a service and an environment like those of secret ids")
        }
        let host = String((reader["host"] as? String ?? "unknown").printable(limit: 100))
        guard entries.count <= maximumReportEntries else { throw invalid("at most \(maximumReportEntries) entries per report") }
        return try entries.map { entry in
            guard let raw = entry["secret"] as? String, let secret = try? SecretID(raw) else { throw invalid("an entry's secret is not a secret id") }
            guard let reads = entry["reads"] as? Int, let denied = entry["denied"] as? Int, reads >= 0, denied >= 0, reads + denied > 0,
                  let first = entry["first"] as? Double, let last = entry["last"] as? Double, first <= last, last <= now.timeIntervalSince1970 + 300 else {
                throw invalid("entry for \(secret) needs reads and denied (whole numbers, not both 0) and first <= last (epoch seconds, not in the future)")
            }
            return AccessReport(secret: secret, service: service, environment: environment, host: host, reads: reads, denied: denied,
                                first: Date(timeIntervalSince1970: first), last: Date(timeIntervalSince1970: last))
        }
    }
}
