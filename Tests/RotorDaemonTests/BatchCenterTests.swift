import Foundation
import Testing
import RotorCore
@testable import RotorDaemon

/// The daemon's admission of API batches: at most four at once, never two on the same secret, and
/// the request body checked before anything is planned.
@Suite struct BatchCenterTests {
    static func job(_ names: [String]) -> BatchJob {
        let items = names.map { BatchItem(id: try! SecretID("/prod/shop/api-key/\($0)"), rotator: "random-password", policy: nil) }
        return BatchJob(plan: BatchPlan(selection: BatchSelection(service: "shop"), items: items), limits: BatchLimits(), actor: "api-token", startedAt: Date())
    }

    @Test func aBatchOverlappingARunningOneIsRefusedAndAFifthWaits() throws {
        let running = Self.job(["a", "b"])
        let overlap = #expect(throws: RotorError.self) { try BatchCenter.admit(Self.job(["b", "c"]).plan, running: [running]) }
        #expect(overlap?.code == .locked && overlap?.summary.contains("/prod/shop/api-key/b") == true)
        try BatchCenter.admit(Self.job(["c"]).plan, running: [running])
        let busy = #expect(throws: BatchCenter.Busy.self) { try BatchCenter.admit(Self.job(["z"]).plan, running: (0..<4).map { Self.job(["r\($0)"]) }) }
        #expect(busy?.description.contains("at most 4") == true)
    }

    static let daemon = SchedulerConfiguration(maxConcurrent: 8, maxConcurrentPerRotator: 4, scope: .only(try! Environment("prod")))

    @Test(arguments: [
        (#"[1]"#, "not a JSON object"),
        (#"{"match":"/prod/**","bogus\nkey":1}"#, "an unknown key"),
        (#"{"match":"/prod/**","maxConcurrent":9}"#, "'maxConcurrent' must be a whole number from 1 to 8"),
        (#"{"match":"/prod/**","maxConcurrent":true}"#, "'maxConcurrent' must be a whole number"),
        (#"{"match":"/prod/**","stopOnError":1}"#, "'stopOnError' must be true or false"),
        (#"{"match":"/prod/\n/*"}"#, "may hold only letters"),
        (#"{"environment":"staging"}"#, "acts on environment 'prod'"),
        (#"{"requestedBy":"al\u001bice","match":"/prod/**"}"#, "'requestedBy' must be at most 64 printable ASCII"),
        (#"{}"#, "select secrets with"),
    ])
    func badRequestsAreRefusedWithTheKeyNamed(body: String, message: String) {
        let error = #expect(throws: RotorError.self) { try BatchRequest.parse(Data(body.utf8), daemon: Self.daemon) }
        #expect(error?.summary.contains(message) == true, "\(error?.summary ?? "")")
    }

    @Test func aRequestWithinTheDaemonsCapsParses() throws {
        let request = try BatchRequest.parse(Data(#"{"match":["/prod/shop/**"],"service":"shop","maxConcurrent":2,"dryRun":true,"requestedBy":"alice"}"#.utf8), daemon: Self.daemon)
        #expect(request.limits.maxConcurrent == 2 && request.limits.maxConcurrentPerRotator == 4 && request.dryRun && request.requestedBy == "alice")
    }
}
