import Dispatch
import class Foundation.Thread
import Synchronization

/// One clock for every running step's heartbeat: a step says when it next needs to act (renew its
/// lock, meet its time limit), and a single thread of its own posts to the step's mailbox when
/// that time comes. A step then costs no timer and no task of its own for its heartbeat. The
/// thread waits on the monotonic clock, in slices of at most a second, so a wall-clock step (NTP,
/// `date -s`) never delays a renewal. (The step's task still needs a thread of its executor to act.)
final class HeartbeatTicker: Sendable {
    static let shared = HeartbeatTicker()

    private struct Entry {
        let mailbox: StepMailbox
        var due: ContinuousClock.Instant?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var started = false
        /// When the thread wakes next (at least once a second, so a due time later than that needs no signal).
        var wakesAt = ContinuousClock.now
    }

    private let state = Mutex(State())
    /// Counts wake-ups asked for, so one asked for while the thread is not yet waiting is not lost.
    private let wake = DispatchSemaphore(value: 0)
    private static let longestWait: Duration = .seconds(1)

    /// Starts watching for `mailbox`, first due at `due`; returns the ticket for the calls below.
    func watch(_ mailbox: StepMailbox, due: ContinuousClock.Instant) -> Int {
        let (id, start, signal) = state.withLock { state -> (Int, Bool, Bool) in
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(mailbox: mailbox, due: due)
            defer { state.started = true }
            return (id, !state.started, due < state.wakesAt)
        }
        if start {
            let thread = Thread { [self] in run() }
            thread.name = "rotor-heartbeat"
            thread.start()
        }
        if signal { wake.signal() }
        return id
    }

    /// Sets when the ticket is next due.
    func reschedule(_ id: Int, due: ContinuousClock.Instant) {
        let signal = state.withLock { state -> Bool in
            guard state.entries[id] != nil else { return false }
            state.entries[id]?.due = due
            return due < state.wakesAt
        }
        if signal { wake.signal() }
    }

    func unwatch(_ id: Int) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    private func run() {
        while true {
            let now = ContinuousClock.now
            let (fired, wakesAt) = state.withLock { state -> ([StepMailbox], ContinuousClock.Instant) in
                var fired: [StepMailbox] = []
                for (id, entry) in state.entries {
                    guard let due = entry.due, due <= now else { continue }
                    fired.append(entry.mailbox)
                    state.entries[id]?.due = nil // until the step says when it is due again
                }
                let soonest = state.entries.values.compactMap(\.due).min() ?? now + Self.longestWait
                state.wakesAt = fired.isEmpty ? min(soonest, now + Self.longestWait) : now
                return (fired, state.wakesAt)
            }
            for mailbox in fired { mailbox.post(.due) }
            guard fired.isEmpty else { continue }
            let wait = max(.zero, wakesAt - ContinuousClock.now)
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(wait / .nanoseconds(1))))
        }
    }
}

/// What a running step's heartbeat waits for: its time to act, or the step's work ending.
final class StepMailbox: Sendable {
    enum Event: Sendable, Equatable { case due, done }

    private let state = Mutex<(events: [Event], waiter: CheckedContinuation<Event, Never>?)>(([], nil))

    func post(_ event: Event) {
        let waiter = state.withLock { state -> CheckedContinuation<Event, Never>? in
            guard let waiter = state.waiter else { state.events.append(event); return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: event)
    }

    /// The next event; the work's end comes first once it is known (no renewal after the work ended).
    func next() async -> Event {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Event? in
                if state.events.contains(.done) { state.events.removeAll(); return .done }
                guard state.events.isEmpty else { return state.events.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
