import Foundation
import Hummingbird
import RotorCore

/// `POST /api/access`: a consumer's access report (`rotor agent --report-to`). Body:
/// `{"reader": {"service", "environment", "host"}, "reads": [{"secret", "reads", "denied", "first", "last"}]}`
/// (times in epoch seconds; at most 1,000 entries). It takes a report token (``ReportTokens``), whose
/// reader the report must name, or the API token (any reader). Entries about secrets this daemon
/// does not manage are ignored.
extension ObservabilityAPI {
    static let maximumReportEntries = 1000
    /// The most reads or denied reads one entry may count.
    static let maximumCount = 1_000_000

    func addAccessRoutes(_ router: Router<BasicRequestContext>) {
        router.post("/api/access") { request, _ in
            guard let monitor = access else { return json(["error": "this daemon keeps no access reports"], status: .notFound) }
            if let refusal = reportTokens.refusal { return json(["error": refusal], status: .forbidden) }
            let bearer = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
            let isAdmin = token.map { BearerTokenMiddleware.constantTimeEquals(bearer, $0) } ?? false
            let reader = reportTokens.reader(for: bearer)
            guard isAdmin || reader != nil else {
                guard wrongTokens.take(at: engine.clock.now()) != nil else { return json(["error": "too many wrong tokens; wait a minute"], status: .tooManyRequests) }
                return json(["error": "access reports need a report token (rotor daemon --report-tokens) or the API token"], status: .unauthorized)
            }
            let body = try await request.body.collect(upTo: 1 << 20)
            do {
                let parsed = try Self.accessReports(Data(buffer: body), now: engine.clock.now())
                if let reader, let other = parsed.first(where: { $0.reader != reader }) {
                    return json(["error": "this report token reports for \(reader), not \(other.reader)"], status: .forbidden)
                }
                // Only this daemon's managed secrets: reports about anything else cannot grow its state.
                let managed = try await schedule.managedIDs(among: parsed.map(\.secret).filter(scope.contains))
                let reports = parsed.filter { managed.contains($0.secret) }
                let fired = try await monitor.receive(reports)
                return json(["accepted": reports.count, "ignored": parsed.count - reports.count,
                             "suspicious": fired.map { ["rule": $0.rule.rawValue, "secret": $0.report.secret.rawValue] }])
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
        // The sender's id for this report: a report sent again is recorded once.
        let reportID = (object["id"] as? String).map { String($0.printable(limit: 64)) }
        guard entries.count <= maximumReportEntries else { throw invalid("at most \(maximumReportEntries) entries per report") }
        return try entries.map { entry in
            guard let raw = entry["secret"] as? String, let secret = try? SecretID(raw) else { throw invalid("an entry's secret is not a secret id") }
            let counts = 0...maximumCount, times = (now.timeIntervalSince1970 - AccessMonitor.retention)...(now.timeIntervalSince1970 + 300)
            guard let reads = entry["reads"] as? Int, let denied = entry["denied"] as? Int, counts.contains(reads), counts.contains(denied), reads > 0 || denied > 0,
                  let first = entry["first"] as? Double, let last = entry["last"] as? Double, first <= last, times.contains(first), times.contains(last) else {
                throw invalid("entry for \(secret) needs reads and denied (0 to \(maximumCount), not both 0) and first <= last (epoch seconds within the last week, not in the future)")
            }
            return AccessReport(secret: secret, service: service, environment: environment, host: host, reads: reads, denied: denied,
                                first: Date(timeIntervalSince1970: first), last: Date(timeIntervalSince1970: last),
                                key: reportID.map { "\(service)@\(environment)|\($0)|\(secret)" })
        }
    }
}
