@testable import RotorCore
import Testing

/// The clock of every running step's heartbeat, and the mailbox a step's heartbeat waits on.
@Suite struct HeartbeatTickerTests {
    @Test func aWatchedStepIsWokenWhenDueAndNotBefore() async {
        let ticker = HeartbeatTicker.shared
        let mailbox = StepMailbox()
        let start = ContinuousClock.now
        let ticket = ticker.watch(mailbox, due: start + .milliseconds(150))
        defer { ticker.unwatch(ticket) }
        #expect(await mailbox.next() == .due)
        #expect(ContinuousClock.now - start >= .milliseconds(150))
    }

    @Test func reschedulingSoonerWakesTheTickerEarlier() async {
        let ticker = HeartbeatTicker.shared
        let far = StepMailbox(), near = StepMailbox()
        let start = ContinuousClock.now
        let farTicket = ticker.watch(far, due: start + .seconds(3600))
        defer { ticker.unwatch(farTicket) }
        let nearTicket = ticker.watch(near, due: start + .seconds(3600))
        defer { ticker.unwatch(nearTicket) }
        ticker.reschedule(nearTicket, due: start + .milliseconds(50))
        #expect(await near.next() == .due)
        #expect(ContinuousClock.now - start < .seconds(30))
    }

    @Test func theWorksEndComesBeforeAnEarlierDueSoNothingIsRenewedAfterIt() async {
        let mailbox = StepMailbox()
        mailbox.post(.due)
        mailbox.post(.done)
        #expect(await mailbox.next() == .done)

        let waiting = StepMailbox()
        async let event = waiting.next()
        waiting.post(.due)
        #expect(await event == .due)
    }
}
