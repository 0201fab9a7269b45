import Foundation
import RotorCore
import RotorPolicies
import Synchronization

/// The scheduler's in-memory state, shared between its loop, the lease renewal and the HTTP API.
final class SchedulerState: Sendable {
    private struct Values {
        var isLeader = false
        var started = false
        var policies: PolicySet?
        var lastReconcile: Date?
        var lastFullReconcile: Date?
        /// ``SchedulingStore/configSequence()`` as read before the last pass.
        var reconciledSequence: Int64?
        /// Why the loop is failing (a database error), until an iteration succeeds again.
        var degraded: String?
    }

    private let values = Mutex(Values())

    var isLeader: Bool {
        get { values.withLock { $0.isLeader } }
        set { values.withLock { $0.isLeader = newValue } }
    }

    var policies: PolicySet? {
        get { values.withLock { $0.policies } }
        set { values.withLock { $0.policies = newValue } }
    }

    var degraded: String? {
        get { values.withLock { $0.degraded } }
        set { values.withLock { $0.degraded = newValue } }
    }

    var needsStart: Bool { values.withLock { !$0.started } }
    var lastReconcile: Date? { values.withLock { $0.lastReconcile } }

    func started() { values.withLock { $0.started = true } }
    /// After losing the lease, recovery must run again when it is regained.
    func lostLease() { values.withLock { $0.started = false } }
    func reconciled(at date: Date) { values.withLock { $0.lastReconcile = date } }

    var lastFullReconcile: Date? { values.withLock { $0.lastFullReconcile } }
    func fullyReconciled(at date: Date) { values.withLock { $0.lastFullReconcile = date } }

    var reconciledSequence: Int64? {
        get { values.withLock { $0.reconciledSequence } }
        set { values.withLock { $0.reconciledSequence = newValue } }
    }
}
