import Foundation
import Hummingbird
import RotorCore

/// `POST /api/rotations` (start a batch, or plan it with `"dryRun": true`), `GET /api/rotations`,
/// `GET /api/rotations/ID` (progress and each secret's end), `POST /api/rotations/ID/stop`.
/// Starting or stopping rotations needs the API token even on loopback.
extension ObservabilityAPI {
    func addBatchRoutes(_ router: Router<BasicRequestContext>) {
        router.post("/api/rotations") { request, _ in
            if let refusal = refuseChange() { return refusal }
            let body = try await request.body.collect(upTo: 64 * 1024)
            do {
                let parsed = try BatchRequest.parse(Data(buffer: body), daemon: scheduler.configuration)
                guard scheduler.isLeader else {
                    return json(["error": "this daemon is standing by (another holds the lease): send the batch to the active daemon"], status: .serviceUnavailable)
                }
                let plan = try await batches.planning { try await batches.plan(parsed) }
                if parsed.dryRun { return json(RecordJSON.batchPlan(plan, limits: parsed.limits)) }
                let job = try batches.start(plan, parsed)
                var response = json(Self.jobJSON(job, withResults: false), status: .accepted)
                response.headers[.location] = "/api/rotations/\(job.id)"
                return response
            } catch let error as RotorError {
                return json(["error": error.description], status: Self.status(error))
            } catch let busy as BatchCenter.Busy {
                return json(["error": busy.description], status: .tooManyRequests)
            }
        }
        router.get("/api/rotations") { _, _ in
            json(["batches": batches.all.reversed().map { Self.jobJSON($0, withResults: false) }])
        }
        router.get("/api/rotations/{id}") { _, context in
            guard let job = batches.job(context.parameters.get("id") ?? "") else { return json(["error": "no such batch"], status: .notFound) }
            return json(Self.jobJSON(job, withResults: true))
        }
        router.post("/api/rotations/{id}/stop") { _, context in
            if let refusal = refuseChange() { return refusal }
            guard let job = batches.job(context.parameters.get("id") ?? "") else { return json(["error": "no such batch"], status: .notFound) }
            job.progress.stop("stopped through the API")
            return json(Self.jobJSON(job, withResults: false), status: .accepted)
        }
    }

    /// Without a token anyone on the host could start rotations; off loopback the token would cross
    /// the network in clear text (the API is plain HTTP): refuse both unless waived explicitly.
    /// Why a write through the API is refused: no token set, or the API off loopback without the waiver.
    func refuseChange(what: String = "starting or stopping rotations") -> Response? {
        if token == nil {
            return json(["error": "\(what) through the API needs a token: set ROTOR_API_TOKEN and send Authorization: Bearer TOKEN"], status: .forbidden)
        }
        return batchAPIRefusal.map { json(["error": $0], status: .forbidden) }
    }

    static func status(_ error: RotorError) -> HTTPResponse.Status {
        switch error.code {
        case .notManaged: .notFound
        case .environmentMismatch: .forbidden
        case .locked: .conflict
        case .transient: .serviceUnavailable
        case .storeUnavailable: .serviceUnavailable
        default: .badRequest
        }
    }

    static func jobJSON(_ job: BatchJob, withResults: Bool) -> [String: Any] {
        let snapshot = job.progress.snapshot
        var object: [String: Any] = [
            "id": job.id, "requestedBy": job.requestedBy, "selection": job.plan.selection.description,
            "state": snapshot.finishedAt != nil ? "finished" : (snapshot.stopReason != nil ? "stopping" : "running"),
            "total": snapshot.total, "done": snapshot.done, "running": snapshot.running, "remaining": snapshot.remaining,
            "outcomes": snapshot.outcomeCounts,
            "maxConcurrent": job.limits.maxConcurrent, "maxConcurrentPerRotator": job.limits.maxConcurrentPerRotator, "stopOnError": job.limits.stopOnError,
            "startedAt": RecordJSON.date(snapshot.startedAt), "finishedAt": RecordJSON.date(snapshot.finishedAt), "stopped": snapshot.stopReason ?? NSNull(),
            "notes": job.plan.notes,
        ]
        if withResults {
            object["results"] = snapshot.results.map(RecordJSON.batchResult)
        }
        return object
    }
}
