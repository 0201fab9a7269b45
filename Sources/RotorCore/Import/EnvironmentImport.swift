/// Moving credentials out of environment variables (ADR-0016's migration): which variables hold
/// secrets, and the id each gets by the naming convention `/{environment}/{service}/{type}/{name}`.
/// Pure: values pass through as ``SecretValue`` and never appear in a proposal's text.
public enum EnvironmentImport {
    /// One variable's fate.
    public struct Proposal: Sendable, Equatable {
        public let variable: String
        /// `nil`: left alone (not a credential by its name).
        public let secret: SecretID?
        public let type: String?
        public let value: SecretValue
    }

    /// Name fragments that mark a credential, with the secret type they map to (first match wins).
    static let types: [(fragments: [String], type: String)] = [
        (["PRIVATE_KEY", "ENCRYPTION_KEY", "SIGNING_KEY", "MASTER_KEY", "AES_KEY"], "encryption-key"),
        (["CLIENT_SECRET"], "app-client"),
        (["DATABASE_URL", "DB_URL", "DSN", "DB_PASSWORD", "DATABASE_PASSWORD", "PGPASSWORD", "MYSQL_PASSWORD", "POSTGRES_PASSWORD"], "database"),
        (["API_KEY", "APIKEY", "ACCESS_KEY"], "api-key"),
        (["TOKEN", "PAT"], "api-token"),
        (["PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "CREDENTIAL", "PRIVATE"], "credential"),
    ]

    /// The secret type a variable's name suggests, or `nil` when it does not look like a credential.
    public static func type(of variable: String) -> String? {
        let words = variable.uppercased().split(whereSeparator: { $0 == "_" || $0 == "-" }).map(String.init)
        let name = words.joined(separator: "_")
        for (fragments, type) in types where fragments.contains(where: { fragment in
            fragment.contains("_") ? name.contains(fragment) : words.contains(fragment)
        }) {
            return type
        }
        return nil
    }

    /// The proposals for `variables`, sorted by name.
    public static func propose(_ variables: [String: SecretValue], environment: Environment, service: String) throws(RotorError) -> [Proposal] {
        try checkSegment(service, "--service")
        var proposals: [Proposal] = []
        var claimed: [SecretID: String] = [:]
        for (variable, value) in variables.sorted(by: { $0.key < $1.key }) {
            guard let type = type(of: variable) else {
                proposals.append(Proposal(variable: variable, secret: nil, type: nil, value: value))
                continue
            }
            let name = variable.lowercased().replacingOccurrences(of: "_", with: "-")
            let id = try SecretID("/\(environment.name)/\(service)/\(type)/\(name)")
            if let other = claimed.updateValue(variable, forKey: id) {
                throw RotorError(.invalidInput, "\(other) and \(variable) would both become \(id)", remedy: "rename one of them; nothing was imported")
            }
            proposals.append(Proposal(variable: variable, secret: id, type: type, value: value))
        }
        return proposals
    }

    static func checkSegment(_ text: String, _ option: String) throws(RotorError) {
        if let problem = SecretID.problem(withSegment: text) {
            throw RotorError(.invalidParameter, "\(option) '\(text.printable(limit: 60))' cannot be a segment of a secret id: \(problem)")
        }
    }

    /// Parses a dotenv file: `NAME=value`, optional `export `, single or double quotes (double quotes
    /// take `\n`, `\"` and `\\`), `#` comments, blank lines. A problem names its line, never its text.
    public static func parseDotenv(_ text: String, file: String) throws(RotorError) -> [String: SecretValue] {
        var result: [String: SecretValue] = [:]
        // Split on any line break (a CRLF file's "\r\n" is one Character, never equal to "\n").
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var line = Substring(raw).trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            if text.hasPrefix("\u{FEFF}"), index == 0 { line = line.drop(while: { $0 == "\u{FEFF}" }) }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7) }
            guard let equals = line.firstIndex(of: "=") else { throw bad(file, index, "expected NAME=value") }
            let name = String(line[..<equals]).trimmingCharacters(in: " \t")
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }),
                  !(name.first?.isNumber ?? true) else {
                throw bad(file, index, "the name must be letters, digits and _, not starting with a digit")
            }
            guard result[name] == nil else { throw bad(file, index, "\(name) is set twice") }
            result[name] = SecretValue(string: try value(line[line.index(after: equals)...], file, index))
        }
        return result
    }

    static func value(_ raw: Substring, _ file: String, _ index: Int) throws(RotorError) -> String {
        let text = raw.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            // Unquoted: up to a comment (`#` after a space or a tab), trimmed.
            var cut = text.endIndex
            var previous: Character = " "
            for position in text.indices {
                if text[position] == "#", previous == " " || previous == "\t", position != text.startIndex { cut = position; break }
                previous = text[position]
            }
            return String(text[..<cut]).trimmingCharacters(in: " \t")
        }
        var out = ""
        var escaped = false
        var position = text.index(after: text.startIndex)
        while position < text.endIndex {
            let character = text[position]
            position = text.index(after: position)
            if escaped {
                switch character {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\"", "\\", "$": out.append(character)
                default: out.append("\\"); out.append(character) // unknown escapes stay as written
                }
                escaped = false
            } else if character == "\\" && quote == "\"" {
                escaped = true
            } else if character == quote {
                // After the closing quote: only blanks and a comment.
                let rest = text[position...].trimmingPrefix(while: { $0 == " " || $0 == "\t" })
                guard rest.isEmpty || rest.hasPrefix("#") else { throw bad(file, index, "text after the closing quote") }
                return out
            } else {
                out.append(character)
            }
        }
        throw bad(file, index, "the quoted value is not closed on its line")
    }

    static func bad(_ file: String, _ index: Int, _ what: String) -> RotorError {
        RotorError(.invalidInput, "\(file.printable(limit: 200)):\(index + 1): \(what)", remedy: "fix the line; nothing was imported")
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
