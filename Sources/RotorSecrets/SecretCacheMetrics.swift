import CoreMetrics
import RotorCore

/// The cache's counters (swift-metrics): reads by how they were answered, retrievals per secret
/// (the ADR's "retrieval frequency"; one series per secret that exists, since only answered reads
/// count), upstream calls by API and outcome, and access-denied answers apart. Labels carry secret
/// ids, API names and error codes; never a value. Counters are made once and kept, so a hit
/// allocates nothing here.
final class SecretCacheMetrics {
    /// How a read was answered.
    enum Read: String, CaseIterable {
        /// From memory, within the TTL.
        case hit
        /// Not cached: fetched.
        case miss
        /// Expired; DescribeSecret said the cached version still answers.
        case revalidated
        /// Expired and changed: fetched again.
        case refetched
        /// `refreshNow`: fetched.
        case refreshed
        /// Expired, upstream failing: the cached value served within the maximum staleness.
        case stale
        /// `AWSPENDING`: never cached.
        case uncached
        /// Not answered.
        case failed
    }

    private let factory: any MetricsFactory
    private let reads: [Read: Counter]
    private let invalidations: Counter
    private var retrievals: [SecretID: Counter] = [:]
    private var upstreamCalls: [String: Counter] = [:]
    private var accessDenied: [String: Counter] = [:]

    init(_ factory: any MetricsFactory) {
        self.factory = factory
        var reads: [Read: Counter] = [:]
        for read in Read.allCases {
            reads[read] = Counter(label: "rotor_secrets_reads_total", dimensions: [("result", read.rawValue)], factory: factory)
        }
        self.reads = reads
        invalidations = Counter(label: "rotor_secrets_invalidations_total", factory: factory)
    }

    func read(_ read: Read, secret: SecretID?) {
        reads[read]?.increment()
        guard let secret else { return }
        if let counter = retrievals[secret] { return counter.increment() }
        let counter = Counter(label: "rotor_secrets_retrievals_total", dimensions: [("secret", secret.rawValue)], factory: factory)
        retrievals[secret] = counter
        counter.increment()
    }

    func upstream(_ api: String, outcome: String) {
        let key = api + " " + outcome
        if let counter = upstreamCalls[key] { return counter.increment() }
        let counter = Counter(label: "rotor_secrets_upstream_calls_total", dimensions: [("api", api), ("outcome", outcome)], factory: factory)
        upstreamCalls[key] = counter
        counter.increment()
    }

    /// A failed upstream call, by the error's code; access denied is also counted on its own series
    /// (the ADR's "access denied events").
    func upstream(_ api: String, failure code: RotorError.Code) {
        upstream(api, outcome: code.name)
        guard code == .accessDenied || code == .authenticationFailed else { return }
        if let counter = accessDenied[api] { return counter.increment() }
        let counter = Counter(label: "rotor_secrets_access_denied_total", dimensions: [("api", api)], factory: factory)
        accessDenied[api] = counter
        counter.increment()
    }

    func invalidated() { invalidations.increment() }
}
