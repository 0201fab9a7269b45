import Foundation
import RotorCore
import Testing

/// Which reads are suspicious, as a table: own prefix, a granted reader, another service, another
/// environment, denied reads over and under the threshold, rules turned off.
@Suite struct AccessRulesTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func report(_ secret: String, _ reader: String, reads: Int = 1, denied: Int = 0) -> AccessReport {
        let parts = reader.split(separator: "@").map(String.init)
        return AccessReport(secret: try! SecretID(secret), service: parts[0], environment: parts[1], host: "h1", reads: reads, denied: denied, first: t0, last: t0)
    }

    static let payments: RotationPolicy = {
        var policy = RotationPolicy(name: "payments", matchers: [try! SecretMatcher("/prod/payments/api-key/*")], rotator: "random-password",
                                    schedule: .every(PolicyDuration(seconds: 86_400)))
        policy.readers = ["shop"]
        return policy
    }()

    static let cases: [(String, AccessReport, RotationPolicy?, Int, AccessRules, [AccessRules.Rule])] = [
        ("own prefix", report("/prod/shop/api-key/k", "shop@prod"), nil, 0, AccessRules(), []),
        ("granted reader", report("/prod/payments/api-key/k", "shop@prod"), payments, 0, AccessRules(), []),
        ("another service", report("/prod/billing/api-key/k", "shop@prod"), nil, 0, AccessRules(), [.crossService]),
        ("not granted by the policy", report("/prod/payments/api-key/k", "web@prod"), payments, 0, AccessRules(), [.crossService]),
        ("another environment", report("/prod/shop/api-key/k", "shop@staging"), nil, 0, AccessRules(), [.crossEnvironment]),
        ("denied over the threshold", report("/prod/shop/api-key/k", "shop@prod", reads: 0, denied: 3), nil, 6, AccessRules(), [.deniedReads]),
        ("denied at the threshold", report("/prod/shop/api-key/k", "shop@prod", reads: 0, denied: 3), nil, 5, AccessRules(), []),
        ("only denied: no cross rule", report("/prod/billing/api-key/k", "shop@prod", reads: 0, denied: 1), nil, 1, AccessRules(), []),
        ("rule off", report("/prod/billing/api-key/k", "shop@prod"), nil, 0, AccessRules(enabled: [.crossEnvironment]), []),
    ]

    @Test(arguments: cases.indices)
    func rules(_ index: Int) {
        let (name, report, policy, denied, rules, expected) = Self.cases[index]
        let fired = rules.evaluate(report, policy: policy, deniedInWindow: denied)
        #expect(fired.map(\.rule) == expected, "\(name)")
        for finding in fired {
            #expect(finding.details["reader"] == report.reader && finding.details["host"] == "h1" && finding.details["why"]?.contains(report.secret.rawValue) == true)
        }
    }
}
