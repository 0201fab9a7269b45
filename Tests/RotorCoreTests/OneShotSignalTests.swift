@testable import RotorCore
import Testing

/// The signal a step's heartbeat raises at the step's time limit.
@Suite struct OneShotSignalTests {
    @Test func aWaitEndsWhenTheSignalIsRaisedBeforeOrAfter() async {
        let early = OneShotSignal()
        early.raise()
        await early.wait()
        #expect(early.isRaised)

        let late = OneShotSignal()
        async let waited: Void = late.wait()
        try? await Task.sleep(for: .milliseconds(20))
        late.raise()
        await waited
        #expect(late.isRaised)
    }

    @Test func cancellingTheWaiterEndsItsWaitWithoutRaising() async {
        let signal = OneShotSignal()
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        await waiter.value
        #expect(!signal.isRaised)
        let cancelledFirst = Task { withUnsafeCurrentTask { $0?.cancel() }; await signal.wait() }
        await cancelledFirst.value
        #expect(!signal.isRaised)
    }
}
