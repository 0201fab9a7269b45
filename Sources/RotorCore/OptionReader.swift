/// Typed reads of ``RotatorOptions`` values with errors that name the rotator and option.
public struct OptionReader: Sendable {
    public let kind: RotatorKind
    public let options: RotatorOptions

    public init(kind: RotatorKind, options: RotatorOptions) {
        self.kind = kind
        self.options = options
    }

    public func bool(_ key: String, default value: Bool) throws(RotorError) -> Bool {
        guard let raw = options[key] else { return value }
        switch raw.lowercased() {
        case "true", "yes", "y", "1": return true
        case "false", "no", "n", "0": return false
        default: throw invalid(key, raw, "expected true or false")
        }
    }

    public func int(_ key: String, default value: Int, range: ClosedRange<Int>) throws(RotorError) -> Int {
        guard let raw = options[key] else { return value }
        guard let number = Int(raw), range.contains(number) else {
            throw invalid(key, raw, "expected a whole number in \(range.lowerBound)-\(range.upperBound)")
        }
        return number
    }

    public func string(_ key: String) -> String? { options[key] }

    public func invalid(_ key: String, _ raw: String, _ expected: String) -> RotorError {
        RotorError(.invalidOption, "option \(key)=\(raw.prefix(64)) is invalid for rotator \(kind): \(expected)")
    }
}
