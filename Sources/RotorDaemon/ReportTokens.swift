import Crypto
import Foundation
import RotorCore

/// Who may send access reports: one token per consuming service, each bound to its reader
/// (`SERVICE@ENVIRONMENT`), so an agent's host holds a credential that can only report its own reads,
/// never the daemon's API token. The file the daemon reads lists `SERVICE@ENVIRONMENT SHA256-HEX`
/// per line (the hash of the token, never the token; `#` starts a comment). The daemon reads it at start.
public struct ReportTokens: Sendable {
    let readers: [String: String]
    /// Why reports are refused (the API is off loopback and the waiver was not given), if they are.
    public let refusal: String?

    public init(readers: [String: String] = [:], refusal: String? = nil) {
        self.readers = readers
        self.refusal = refusal
    }

    /// Parses the file's text; a bad line is an error naming its number.
    public static func parse(_ text: String, refusal: String? = nil) throws -> ReportTokens {
        var readers: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard !line.isEmpty else { continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            let reader = fields.first ?? ""
            let parts = reader.split(separator: "@").map(String.init)
            guard fields.count == 2, parts.count == 2, (try? SecretID("/\(parts[1])/\(parts[0])/t/n")) != nil,
                  fields[1].count == 64, [UInt8](hex: fields[1]) != nil else {
                throw RotorError(.invalidInput, "report tokens, line \(number + 1): expected SERVICE@ENVIRONMENT and the token's SHA-256 in hex")
            }
            let hash = fields[1].lowercased()
            guard hash != SHA256.hash(data: Data()).hexString else {
                throw RotorError(.invalidInput, "report tokens, line \(number + 1): that is the hash of an empty token")
            }
            guard readers[hash] == nil else { throw RotorError(.invalidInput, "report tokens, line \(number + 1): the same token is listed twice") }
            readers[hash] = reader
        }
        return ReportTokens(readers: readers, refusal: refusal)
    }

    /// The reader a bearer token reports for, if it is one of the listed tokens.
    func reader(for bearer: String) -> String? {
        readers[SHA256.hash(data: Data(bearer.utf8)).hexString]
    }
}
