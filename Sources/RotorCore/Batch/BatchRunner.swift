import struct Foundation.Date
import Synchronization

/// How one secret of a batch ended, from best to worst (a batch's exit status is its worst).
public enum BatchOutcome: String, Sendable, CaseIterable, Comparable {
    case rotated
    /// A person makes its value (`manual`, `github-pat`): never started by a batch.
    case needsPerson = "needs-person"
    /// Not started: the batch stopped (Ctrl-C, `--stop-on-error`) first.
    case notStarted = "not-started"
    /// Not started: a secret it uses did not rotate.
    case skipped
    case failed
    case quarantined

    public static func < (lhs: Self, rhs: Self) -> Bool { allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)! }
}

/// One secret's end in a batch.
public struct BatchResult: Sendable {
    public let id: SecretID
    public let rotator: RotatorKind
    public var outcome: BatchOutcome
    public var startedAt: Date?
    public var endedAt: Date?
    /// What went wrong, or why it did not start (never a value).
    public var error: String?

    public init(id: SecretID, rotator: RotatorKind, outcome: BatchOutcome, startedAt: Date? = nil, endedAt: Date? = nil, error: String? = nil) {
        self.id = id
        self.rotator = rotator
        self.outcome = outcome
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.error = error
    }

    public var duration: Double? {
        guard let startedAt, let endedAt else { return nil }
        return endedAt.timeIntervalSince(startedAt)
    }
}

/// Caps of one batch.
public struct BatchLimits: Sendable, Hashable {
    public var maxConcurrent: Int
    public var maxConcurrentPerRotator: Int
    public var stopOnError: Bool

    public init(maxConcurrent: Int = 8, maxConcurrentPerRotator: Int = 4, stopOnError: Bool = false) {
        self.maxConcurrent = max(1, maxConcurrent)
        self.maxConcurrentPerRotator = max(1, maxConcurrentPerRotator)
        self.stopOnError = stopOnError
    }
}

/// A batch's counts while it runs, shared with whoever watches it (a progress line, the API), and
/// the request to stop starting rotations.
public final class BatchProgress: Sendable {
    public struct Snapshot: Sendable {
        public var total: Int
        public var running: Int = 0
        public var results: [BatchResult] = []
        public var stopReason: String?
        public var startedAt: Date
        public var finishedAt: Date?

        public var done: Int { results.count }
        public var remaining: Int { total - results.count - running }
        public func count(_ outcome: BatchOutcome) -> Int { results.count { $0.outcome == outcome } }
        public var worst: BatchOutcome { results.map(\.outcome).max() ?? .rotated }
        /// How many ended each way, every outcome named (for JSON).
        public var outcomeCounts: [String: Int] { Dictionary(uniqueKeysWithValues: BatchOutcome.allCases.map { ($0.rawValue, count($0)) }) }
    }

    private let state: Mutex<Snapshot>

    public init(total: Int, startedAt: Date) { state = Mutex(Snapshot(total: total, startedAt: startedAt)) }

    public var snapshot: Snapshot { state.withLock { $0 } }
    /// Stops starting rotations; running ones finish (or roll back). The first reason is kept.
    public func stop(_ reason: String) { state.withLock { $0.stopReason = $0.stopReason ?? reason } }
    var stopReason: String? { state.withLock { $0.stopReason } }
    func started() { state.withLock { $0.running += 1 } }
    func finished(_ result: BatchResult, wasRunning: Bool) {
        state.withLock {
            if wasRunning { $0.running -= 1 }
            $0.results.append(result)
        }
    }
    func ended(at date: Date) { state.withLock { $0.finishedAt = date } }
}

/// Runs a plan: a secret starts once every secret it uses has rotated, within the caps overall and
/// per rotator kind; one whose dependency did not rotate is skipped. After a stop (or the first
/// failure with `stopOnError`) nothing more starts and the running rotations finish.
public struct BatchRunner: Sendable {
    public let plan: BatchPlan
    public let limits: BatchLimits
    public let clock: any RotorClock
    /// The process's shared caps (the daemon's), besides this run's own `limits`.
    public let slots: RotationSlots?
    /// Rotates one secret (journal, lock, retries, rollback) and says how it ended.
    public let rotate: @Sendable (BatchItem) async -> BatchResult

    public init(
        plan: BatchPlan, limits: BatchLimits, clock: any RotorClock, slots: RotationSlots? = nil,
        rotate: @escaping @Sendable (BatchItem) async -> BatchResult
    ) {
        self.plan = plan
        self.limits = limits
        self.clock = clock
        self.slots = slots
        self.rotate = rotate
    }

    /// Runs to the end; `onResult` sees each secret's result as it is known.
    @discardableResult
    public func run(_ progress: BatchProgress, onResult: @escaping @Sendable (BatchResult) -> Void = { _ in }) async -> [BatchResult] {
        var dispatch = BatchDispatch(items: plan.items, limits: limits)
        func settle(_ result: BatchResult, wasRunning: Bool) {
            dispatch.record(result)
            progress.finished(result, wasRunning: wasRunning)
            onResult(result)
        }
        func abandonWaiting(_ reason: String) {
            for item in dispatch.abandonWaiting() { settle(item.result(.notStarted, error: reason), wasRunning: false) }
        }
        await withTaskGroup(of: BatchResult.self) { group in
            while true {
                if let reason = progress.stopReason { abandonWaiting(reason) }
                for (item, outcome, reason) in dispatch.settleUnstartable() { settle(item.result(outcome, error: reason), wasRunning: false) }
                if let item = dispatch.nextStartable() {
                    progress.started()
                    group.addTask { [slots, rotate] in
                        guard let slots else { return await rotate(item) }
                        return await slots.withSlot(item.rotator) {
                            // A stop while it waited for the process's slot: it never starts.
                            if let reason = progress.stopReason { return item.result(.notStarted, error: reason) }
                            return await rotate(item)
                        }
                    }
                    continue
                }
                guard let result = await group.next() else {
                    // Nothing runs and nothing can start: whatever still waits is reported, never lost.
                    abandonWaiting("not started")
                    break
                }
                dispatch.finish(result)
                settle(result, wasRunning: true)
                if limits.stopOnError, result.outcome >= .skipped { progress.stop("stopped after \(result.id) \(result.outcome.rawValue) (--stop-on-error)") }
            }
        }
        progress.ended(at: clock.now())
        return progress.snapshot.results
    }
}

extension RotationEngine {
    /// Rotates one secret of a batch and turns the run (or its refusal) into a result.
    public func rotateForBatch(_ item: BatchItem, trigger: String) async -> BatchResult {
        let started = clock.now()
        var result = BatchResult(id: item.id, rotator: item.rotator, outcome: .rotated, startedAt: started)
        do {
            let report = try await rotate(item.id, trigger: trigger)
            if let error = report.error { result.error = error.summary }
            if !report.succeeded { result.outcome = try await isQuarantined(item.id) ? .quarantined : .failed }
        } catch {
            let wrapped = RotorError.wrapping(error, secret: item.id)
            result.outcome = wrapped.code == .quarantined ? .quarantined : .failed
            result.error = wrapped.summary
        }
        result.endedAt = clock.now()
        return result
    }

    func isQuarantined(_ id: SecretID) async throws -> Bool { try await state.managedSecret(id)?.status == .quarantined }
}
