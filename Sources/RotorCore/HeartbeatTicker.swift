import class Foundation.NSCondition
import class Foundation.Thread
import struct Foundation.Date
import Synchronization

/// One clock for every running step's heartbeat: a step says when it next needs to act (renew its
/// lock, meet its time limit), and a single thread of its own posts to the step's mailbox when
/// that time comes. A step then costs no timer and no task of its own for its heartbeat, and the
/// clock keeps time even when the cooperative threads are all busy.
final class HeartbeatTicker: @unchecked Sendable {
    static let shared = HeartbeatTicker()

    private struct Entry {
        let mailbox: StepMailbox
        var due: ContinuousClock.Instant?
    }

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var entries: [Int: Entry] = [:]
    private var nextID = 0
    private var started = false
    /// When the thread wakes next; `nil` while it waits for a first entry.
    private var wakesAt: ContinuousClock.Instant?

    /// Starts watching for `mailbox`, first due at `due`; returns the ticket for the calls below.
    func watch(_ mailbox: StepMailbox, due: ContinuousClock.Instant) -> Int {
        condition.lock()
        defer { condition.unlock() }
        let id = nextID
        nextID += 1
        entries[id] = Entry(mailbox: mailbox, due: due)
        if !started {
            started = true
            let thread = Thread { [unowned self] in self.run() }
            thread.name = "rotor-heartbeat"
            thread.start()
        }
        wakeIfSooner(due)
        return id
    }

    /// Sets when the ticket is next due.
    func reschedule(_ id: Int, due: ContinuousClock.Instant) {
        condition.lock()
        defer { condition.unlock() }
        entries[id]?.due = due
        wakeIfSooner(due)
    }

    func unwatch(_ id: Int) {
        condition.lock()
        entries[id] = nil
        condition.unlock()
    }

    /// Called with the lock held: the thread sleeps past `due`, so wake it to recompute.
    private func wakeIfSooner(_ due: ContinuousClock.Instant) {
        if wakesAt.map({ due < $0 }) ?? true { condition.signal() }
    }

    private func run() {
        condition.lock()
        while true {
            let now = ContinuousClock.now
            var fired: [StepMailbox] = []
            for (id, entry) in entries {
                guard let due = entry.due, due <= now else { continue }
                fired.append(entry.mailbox)
                entries[id]?.due = nil // until the step says when it is due again
            }
            if !fired.isEmpty {
                condition.unlock()
                for mailbox in fired { mailbox.post(.due) }
                condition.lock()
                continue
            }
            wakesAt = entries.values.compactMap(\.due).min()
            if let wakesAt {
                let seconds = Double((wakesAt - now).components.seconds) + Double((wakesAt - now).components.attoseconds) / 1e18
                _ = condition.wait(until: Date().addingTimeInterval(seconds))
            } else {
                condition.wait()
            }
        }
    }
}

/// What a running step's heartbeat waits for: its time to act, or the step's work ending.
final class StepMailbox: Sendable {
    enum Event: Sendable { case due, done }

    private let state = Mutex<(events: [Event], waiter: CheckedContinuation<Event, Never>?)>(([], nil))

    func post(_ event: Event) {
        let waiter = state.withLock { state -> CheckedContinuation<Event, Never>? in
            guard let waiter = state.waiter else { state.events.append(event); return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: event)
    }

    /// The next event, in the order posted.
    func next() async -> Event {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Event? in
                guard state.events.isEmpty else { return state.events.removeFirst() }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
