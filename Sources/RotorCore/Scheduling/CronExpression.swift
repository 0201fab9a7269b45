import Foundation

/// A 5-field cron expression (`minute hour day-of-month month day-of-week`), evaluated in an IANA
/// time zone. Fields take `*`, numbers, ranges `a-b`, lists `a,b` and steps `*/n`, `a-b/n`;
/// months and weekdays also take names (`JAN`, `MON`); weekday 0 and 7 are Sunday. As in classic
/// cron, when both day fields are restricted a day matches if either does.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public let source: String
    let minutes: Set<Int>
    let hours: Set<Int>
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// Parses an expression; the error names the field that is wrong.
    public init(_ source: String) throws(RotorError) {
        let fields = source.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else {
            throw RotorError(.invalidParameter, "cron '\(source)' has \(fields.count) field(s); expected 5 (minute hour day-of-month month day-of-week)")
        }
        self.source = source
        minutes = try Self.parse(fields[0], name: "minute", range: 0...59, names: [:])
        hours = try Self.parse(fields[1], name: "hour", range: 0...23, names: [:])
        daysOfMonth = try Self.parse(fields[2], name: "day-of-month", range: 1...31, names: [:])
        months = try Self.parse(fields[3], name: "month", range: 1...12, names: Self.monthNames)
        let weekdays = try Self.parse(fields[4], name: "day-of-week", range: 0...7, names: Self.dayNames)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    public var description: String { source }

    static let monthNames = ["JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12]
    static let dayNames = ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]

    static func parse(_ field: String, name: String, range: ClosedRange<Int>, names: [String: Int]) throws(RotorError) -> Set<Int> {
        var values = Set<Int>()
        for part in field.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard pieces.count <= 2 else { throw invalid(field, name, range) }
            let step = pieces.count == 2 ? Int(pieces[1]) : 1
            guard let step, step > 0 else { throw invalid(field, name, range) }
            let bounds: ClosedRange<Int>
            if pieces[0] == "*" {
                bounds = range
            } else if let dash = pieces[0].firstIndex(of: "-") {
                guard let low = value(String(pieces[0][..<dash]), names), let high = value(String(pieces[0][pieces[0].index(after: dash)...]), names),
                      low <= high, range.contains(low), range.contains(high) else { throw invalid(field, name, range) }
                bounds = low...high
            } else {
                guard let single = value(pieces[0], names), range.contains(single) else { throw invalid(field, name, range) }
                bounds = pieces.count == 2 ? single...range.upperBound : single...single
            }
            values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return values
    }

    static func value(_ text: String, _ names: [String: Int]) -> Int? { Int(text) ?? names[text.uppercased()] }

    static func invalid(_ field: String, _ name: String, _ range: ClosedRange<Int>) -> RotorError {
        RotorError(.invalidParameter, "cron \(name) field '\(field)' is invalid: use *, numbers \(range.lowerBound)-\(range.upperBound), ranges a-b, lists a,b or steps */n")
    }

    /// The first time strictly after `date` that matches, in `timeZone`; `nil` if none within 5 years
    /// (e.g. `0 0 31 2 *`). DST: a wall-clock time skipped by a spring-forward gap does not fire that
    /// day; one repeated by a fall-back fires once, at its first occurrence.
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        guard var day = calendar.dateInterval(of: .day, for: date)?.start else { return nil }
        for _ in 0..<(366 * 5) {
            if let match = firstMatch(onDayStarting: day, after: date, calendar: calendar) { return match }
            guard let nextDay = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = calendar.startOfDay(for: nextDay)
        }
        return nil
    }

    private func firstMatch(onDayStarting day: Date, after date: Date, calendar: Calendar) -> Date? {
        let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
        guard let month = parts.month, months.contains(month), let dayOfMonth = parts.day, let weekday = parts.weekday else { return nil }
        let domMatch = daysOfMonth.contains(dayOfMonth)
        let dowMatch = daysOfWeek.contains(weekday - 1)
        let dayMatches = dayOfMonthRestricted && dayOfWeekRestricted ? (domMatch || dowMatch) : (domMatch && dowMatch)
        guard dayMatches else { return nil }
        for hour in hours.sorted() {
            for minute in minutes.sorted() {
                var wanted = parts
                wanted.hour = hour
                wanted.minute = minute
                wanted.second = 0
                guard let candidate = calendar.date(from: wanted) else { continue }
                // A skipped wall-clock time (DST gap) resolves to another hour: it does not fire.
                let actual = calendar.dateComponents([.hour, .minute, .day], from: candidate)
                guard actual.hour == hour, actual.minute == minute, actual.day == dayOfMonth else { continue }
                if candidate > date { return candidate }
            }
        }
        return nil
    }
}
