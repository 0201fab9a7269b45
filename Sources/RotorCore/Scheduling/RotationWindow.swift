import Foundation

/// A daily window in which rotations may start: a local start time, a length, a time zone.
/// A window may cross midnight (e.g. 22:00 for 4h).
public struct RotationWindow: Sendable, Hashable, CustomStringConvertible {
    public let hour: Int
    public let minute: Int
    public let duration: PolicyDuration
    public let timeZone: TimeZone
    let calendar: Calendar

    /// - Throws: for a start that is not `HH:MM` or a duration outside (0, 24h].
    public init(start: String, duration: PolicyDuration, timeZone: TimeZone) throws(RotorError) {
        let parts = start.split(separator: ":").map { Int($0) }
        guard parts.count == 2, let hour = parts[0], let minute = parts[1], (0...23).contains(hour), (0...59).contains(minute) else {
            throw RotorError(.invalidParameter, "window start '\(start)' is not HH:MM (00:00-23:59)")
        }
        guard duration.seconds > 0, duration.seconds <= 86_400 else {
            throw RotorError(.invalidParameter, "window duration \(duration) can never open: it must be more than 0 and at most 24h")
        }
        self.hour = hour
        self.minute = minute
        self.duration = duration
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.hour, lhs.minute, lhs.duration, lhs.timeZone) == (rhs.hour, rhs.minute, rhs.duration, rhs.timeZone)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(hour)
        hasher.combine(minute)
        hasher.combine(duration)
        hasher.combine(timeZone)
    }

    public var description: String {
        String(format: "%02d:%02d+%@ %@", hour, minute, duration.description, timeZone.identifier)
    }

    /// The window's opening on the local day of `date` (a skipped time in a DST gap opens at the next valid time).
    func opening(onDayOf date: Date) -> Date? {
        calendar.date(bySettingHour: hour, minute: minute, second: 0, of: date, matchingPolicy: .nextTime, repeatedTimePolicy: .first, direction: .forward)
    }

    /// The zone's UTC offset around `date` when it does not change within two days either side:
    /// then wall-clock arithmetic is exact and far cheaper than calendar calls.
    func steadyOffset(around date: Date) -> Double? {
        let before = timeZone.secondsFromGMT(for: date.addingTimeInterval(-172_800))
        let after = timeZone.secondsFromGMT(for: date.addingTimeInterval(172_800))
        return before == after ? Double(before) : nil
    }

    var startSeconds: Double { Double(hour * 3600 + minute * 60) }

    /// Whether a rotation may start at `date`.
    public func contains(_ date: Date) -> Bool {
        if let offset = steadyOffset(around: date) {
            let local = date.timeIntervalSince1970 + offset
            let intoDay = local - (local / 86_400).rounded(.down) * 86_400
            let sinceOpening = (intoDay - startSeconds + 86_400).truncatingRemainder(dividingBy: 86_400)
            return sinceOpening < duration.timeInterval
        }
        for offset in [-1, 0] {
            guard let day = calendar.date(byAdding: .day, value: offset, to: date), let open = opening(onDayOf: day) else { continue }
            if date >= open, date < open.addingTimeInterval(duration.timeInterval) { return true }
        }
        return false
    }

    /// `date` itself when the window is open then, else the next opening after it.
    public func nextOpening(atOrAfter date: Date) -> Date {
        if contains(date) { return date }
        if let offset = steadyOffset(around: date) {
            let local = date.timeIntervalSince1970 + offset
            var opening = (local / 86_400).rounded(.down) * 86_400 + startSeconds
            if opening <= local { opening += 86_400 }
            return Date(timeIntervalSince1970: opening - offset)
        }
        for offset in 0...2 {
            guard let day = calendar.date(byAdding: .day, value: offset, to: date), let open = opening(onDayOf: day) else { continue }
            if open > date { return open }
        }
        return date.addingTimeInterval(86_400)
    }
}
