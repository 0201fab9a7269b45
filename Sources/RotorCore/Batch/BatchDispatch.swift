/// Which secret of a batch may start now: each waits until everything it uses has rotated (a count
/// per secret, so a large batch costs nothing per start), then queues by rotator kind; the first in
/// plan order whose kind is under its cap starts. A secret whose dependency ended otherwise is
/// skipped; one a person must rotate is no one's dependency here (its value does not change).
struct BatchDispatch {
    enum State { case waiting, ready, started, settled }

    let limits: BatchLimits
    private let items: [BatchItem]
    private var state: [State]
    /// Dependencies of each item that have not rotated yet.
    private var unmet: [Int]
    private var dependents: [SecretID: [Int]] = [:]
    private var queues: [RotatorKind: (items: [Int], head: Int)] = [:]
    private var unstartable: [(BatchItem, BatchOutcome, String)] = []
    private var running: [RotatorKind: Int] = [:]
    private var total = 0

    init(items: [BatchItem], limits: BatchLimits) {
        self.items = items
        self.limits = limits
        state = Array(repeating: .waiting, count: items.count)
        unmet = Array(repeating: 0, count: items.count)
        // A secret a person must rotate keeps its value in this batch, like one outside the selection:
        // what uses it does not wait for it.
        let known = Set(items.filter { $0.needsPerson == nil }.map(\.id))
        for (index, item) in items.enumerated() {
            if let reason = item.needsPerson {
                state[index] = .settled
                unstartable.append((item, .needsPerson, reason))
                continue
            }
            for edge in item.dependsOn where known.contains(edge.dependency) {
                unmet[index] += 1
                dependents[edge.dependency, default: []].append(index)
            }
            if unmet[index] == 0 { enqueue(index) }
        }
    }

    private mutating func enqueue(_ index: Int) {
        state[index] = .ready
        queues[items[index].rotator, default: ([], 0)].items.append(index)
    }

    /// A secret's end: its dependents become ready (all rotated) or are skipped.
    mutating func record(_ result: BatchResult) {
        for dependent in dependents[result.id] ?? [] where state[dependent] == .waiting {
            if result.outcome == .rotated {
                unmet[dependent] -= 1
                if unmet[dependent] == 0 { enqueue(dependent) }
            } else {
                state[dependent] = .settled
                let how = result.outcome == .skipped ? "was skipped" : "ended \(result.outcome.rawValue)"
                unstartable.append((items[dependent], .skipped, "not started: \(result.id), which it uses, \(how)"))
            }
        }
    }

    mutating func finish(_ result: BatchResult) {
        running[result.rotator, default: 1] -= 1
        total -= 1
    }

    /// Secrets a person must rotate, and secrets whose dependency ended without rotating.
    mutating func settleUnstartable() -> [(BatchItem, BatchOutcome, String)] {
        defer { unstartable.removeAll() }
        return unstartable
    }

    /// The next ready secret within the caps, first in plan order among the kinds with room.
    mutating func nextStartable() -> BatchItem? {
        guard total < limits.maxConcurrent else { return nil }
        var best: (kind: RotatorKind, index: Int)?
        for (kind, queue) in queues where (running[kind] ?? 0) < limits.maxConcurrentPerRotator {
            guard let index = queue.items[queue.head...].first(where: { state[$0] == .ready }) else { continue }
            if best == nil || index < best!.index { best = (kind, index) }
        }
        guard let (kind, index) = best else { return nil }
        while let head = queues[kind].map({ $0.items[$0.head] }), head != index || state[head] != .ready { queues[kind]!.head += 1 }
        queues[kind]!.head += 1
        state[index] = .started
        running[kind, default: 0] += 1
        total += 1
        return items[index]
    }

    /// Every secret not started yet (after a stop).
    mutating func abandonWaiting() -> [BatchItem] {
        var abandoned: [BatchItem] = []
        for index in items.indices where state[index] == .waiting || state[index] == .ready {
            state[index] = .settled
            abandoned.append(items[index])
        }
        return abandoned
    }
}
