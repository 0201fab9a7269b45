/// A duration written in a policy: a whole number and a unit, `m` (minutes), `h`, `d` or `w`,
/// e.g. `90d`, `6h`, `30m`, `2w`.
public struct PolicyDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let seconds: Int

    public init(seconds: Int) { self.seconds = seconds }

    /// Parses `90d`; `nil` for anything else.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let unit = trimmed.last, let number = Int(trimmed.dropLast()), number >= 0, number <= 100_000 else { return nil }
        switch unit {
        case "m": seconds = number * 60
        case "h": seconds = number * 3600
        case "d": seconds = number * 86_400
        case "w": seconds = number * 604_800
        default: return nil
        }
    }

    public static let unitsHelp = "a whole number with a unit m, h, d or w (e.g. 90d, 6h)"

    public var timeInterval: Double { Double(seconds) }

    public var description: String {
        for (size, unit) in [(604_800, "w"), (86_400, "d"), (3600, "h"), (60, "m")] where seconds % size == 0 && seconds > 0 {
            return "\(seconds / size)\(unit)"
        }
        return "\(seconds)s"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.seconds < rhs.seconds }
}

import Foundation
