import Foundation
import Logging
import RotorCore
import ServiceLifecycle
import Synchronization

/// The batches this daemon runs for `POST /api/rotations`: each in a task of its own (so it goes on
/// when the caller disconnects), within the daemon's caps and only while it holds the lease. On
/// graceful shutdown nothing more starts and running rotations finish.
public final class BatchCenter: Service, Sendable {
    let scheduler: RotationScheduler
    let logger: Logger
    private let jobs = Mutex<[(job: BatchJob, task: Task<Void, Never>)]>([])
    /// Finished batches kept for `GET /api/rotations` (the audit log keeps every one).
    static let kept = 50

    public init(scheduler: RotationScheduler, logger: Logger) {
        self.scheduler = scheduler
        self.logger = logger
    }

    /// Plans a batch for the daemon's environments with its policies, refusing what the CLI refuses.
    func plan(_ request: BatchRequest) async throws -> BatchPlan {
        guard let policies = scheduler.state.policies else {
            throw RotorError(.storeUnavailable, "the daemon has not loaded its policies yet", remedy: "try again in a few seconds")
        }
        let plan = try await scheduler.engine.planBatch(request.selection, scope: scheduler.configuration.scope) { policies.policy(for: $0) }
        guard request.dryRun || plan.items.count <= request.maxSecrets || request.yes else {
            throw RotorError(.invalidParameter, "the selection \(request.selection) has \(plan.items.count) secrets, more than maxSecrets \(request.maxSecrets)",
                             remedy: "check it with \"dryRun\": true, then send \"yes\": true; nothing was rotated")
        }
        return plan
    }

    /// Batches running at once; more are refused (429) until one ends.
    static let maxRunning = 4

    /// Starts a planned batch and returns it at once. Refuses a fifth running batch, and one that
    /// selects a secret a running batch has not finished with (it would rotate it twice at once).
    func start(_ plan: BatchPlan, _ request: BatchRequest) throws -> BatchJob {
        let job = BatchJob(plan: plan, limits: request.limits, actor: BatchRequest.actor, requestedBy: request.requestedBy, startedAt: scheduler.clock.now())
        try jobs.withLock { jobs in
            // Checked and added under one lock: two requests at once cannot both pass.
            try Self.admit(plan, running: jobs.map(\.job).filter { $0.progress.snapshot.finishedAt == nil })
            let task = Task.detached { [scheduler, logger] in
                do {
                    try await job.run(scheduler.engine, slots: scheduler.slots) { item in await scheduler.rotateInBatch(item, job: job) }
                } catch {
                    logger.error("batch could not start", metadata: ["batch": "\(job.id)", "error": "\(error)"])
                }
            }
            jobs.append((job, task))
            while jobs.count > Self.kept, let index = jobs.firstIndex(where: { $0.job.progress.snapshot.finishedAt != nil }) { jobs.remove(at: index) }
        }
        logger.notice("batch started", metadata: ["batch": "\(job.id)", "secrets": "\(plan.items.count)", "requested-by": "\(request.requestedBy)"])
        return job
    }

    /// A request refused for capacity (HTTP 429): too many batches running, or being planned.
    struct Busy: Error, CustomStringConvertible {
        let description: String
    }

    /// Plans at once (each reads every selected managed row, and some values); more are refused.
    static let maxPlanning = 2
    private let plansRunning = Mutex(0)

    /// Runs `body` (a plan) if fewer than ``maxPlanning`` run now.
    func planning<T>(_ body: () async throws -> T) async throws -> T {
        let admitted = plansRunning.withLock { count -> Bool in
            guard count < Self.maxPlanning else { return false }
            count += 1
            return true
        }
        guard admitted else {
            throw Busy(description: "\(Self.maxPlanning) batches are being planned already: try again in a moment")
        }
        defer { plansRunning.withLock { $0 -= 1 } }
        return try await body()
    }

    static func admit(_ plan: BatchPlan, running: [BatchJob]) throws {
        guard running.count < maxRunning else {
            throw Busy(description: "\(running.count) batches are running already (at most \(maxRunning)): wait for one to finish, or stop one")
        }
        let ids = Set(plan.items.map(\.id))
        for other in running {
            let finished = Set(other.progress.snapshot.results.map(\.id))
            if let shared = other.plan.items.first(where: { ids.contains($0.id) && !finished.contains($0.id) }) {
                throw RotorError(.locked, "batch \(other.id) has not finished with \(shared.id) (and perhaps others of this selection)",
                                 remedy: "wait for it (GET /api/rotations/\(other.id)), stop it, or narrow this selection")
            }
        }
    }

    func job(_ id: String) -> BatchJob? { jobs.withLock { $0.first { $0.job.id == id }?.job } }
    var all: [BatchJob] { jobs.withLock { $0.map(\.job) } }

    /// Waits for graceful shutdown, then stops every batch and waits for its running rotations.
    public func run() async throws {
        try? await gracefulShutdown()
        let running = jobs.withLock { $0.map { ($0.job, $0.task) } }
        for (job, _) in running { job.progress.stop("the daemon is shutting down") }
        for (_, task) in running { await task.value }
    }
}

extension RotationScheduler {
    /// One secret of an API batch: only while this daemon holds the lease; re-planned and alerted
    /// on like a scheduled rotation.
    func rotateInBatch(_ item: BatchItem, job: BatchJob) async -> BatchResult {
        if let refused = refusedWithoutLease(item, job.progress) { return refused }
        let result = await engine.rotateForBatch(item, trigger: "batch:\(job.id)")
        await replan(item.id, policy: state.policies?.policy(for: item.id), failure: result.outcome == .rotated ? nil : (result.error ?? result.outcome.rawValue),
                     outcome: result.outcome == .rotated ? RotationOutcome.succeeded.rawValue : "failed")
        return result
    }

    /// Nil while this daemon holds the lease; otherwise the run starts nothing more (the lease's new
    /// holder has the schedule) and `item` is not started.
    func refusedWithoutLease(_ item: BatchItem, _ progress: BatchProgress) -> BatchResult? {
        guard !state.isLeader else { return nil }
        progress.stop("this daemon lost its lease")
        return item.result(.notStarted, error: "this daemon lost its lease")
    }
}
