import Foundation
import RotorCore
import TOMLKit

/// `rotor agent`'s configuration: AWS's Secrets Manager Agent's TOML keys and defaults, checked
/// completely at start (an unknown key, a wrong type or a value out of range names the key), plus
/// rotor's `max_staleness_seconds`.
public struct AgentConfiguration: Sendable, Equatable {
    public enum LogLevel: String, Sendable, CaseIterable { case debug = "DEBUG", info = "INFO", warn = "WARN", error = "ERROR", none = "NONE" }

    public var logLevel = LogLevel.info
    /// rotor logs to standard error; `true` (AWS's default, a rotating file) is refused until supported.
    public var logToFile = false
    public var httpPort = 2773
    public var ttlSeconds = 300
    public var cacheSize = 1000
    public var maxConnections = 800
    public var ssrfHeaders = ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"]
    public var ssrfEnvironmentVariables = ["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    public var pathPrefix = "/v1/"
    public var region: String?
    public var ignoreTransientErrors = true
    /// rotor's: past this age since the upstream last confirmed it, a stale value is not served (503).
    public var maxStalenessSeconds = 3600

    public init() {}

    static let keys: Set<String> = [
        "log_level", "log_to_file", "http_port", "ttl_seconds", "cache_size", "max_conn", "ssrf_headers", "ssrf_env_variables", "path_prefix",
        "region", "ignore_transient_errors", "validate_credentials", "credentials_file_path", "max_staleness_seconds",
    ]

    /// Parses a TOML file's text; every problem is an error naming the key (or the line).
    public static func parse(_ text: String, file: String) throws(RotorError) -> AgentConfiguration {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw invalid(file, "line \(error.source.begin.line): \(error.description.printable(limit: 200))")
        } catch {
            throw invalid(file, "not valid TOML")
        }
        var configuration = AgentConfiguration()
        let reader = Reader(table: table, file: file)
        if let unknown = table.keys.sorted().first(where: { !keys.contains($0) }) {
            throw invalid(file, "unknown key '\(unknown.printable(limit: 60))'; expected one of \(keys.sorted().joined(separator: ", "))")
        }
        if let level = try reader.string("log_level") {
            guard let parsed = LogLevel(rawValue: level.uppercased()) else { throw invalid(file, "'log_level' is '\(level.printable(limit: 20))'; expected DEBUG, INFO, WARN, ERROR or NONE") }
            configuration.logLevel = parsed
        }
        configuration.logToFile = try reader.bool("log_to_file") ?? false
        guard !configuration.logToFile else { throw invalid(file, "'log_to_file = true' is not supported: rotor agent logs to standard error (set it to false)") }
        configuration.httpPort = try reader.int("http_port", 0...65535) ?? 2773
        guard configuration.httpPort == 0 || configuration.httpPort >= 1024 else { throw invalid(file, "'http_port' must be from 1024 to 65535 (or 0 for any free port)") }
        configuration.ttlSeconds = try reader.int("ttl_seconds", 0...3600) ?? 300
        configuration.cacheSize = try reader.int("cache_size", 1...1000) ?? 1000
        configuration.maxConnections = try reader.int("max_conn", 1...1000) ?? 800
        configuration.ssrfHeaders = try reader.strings("ssrf_headers") ?? configuration.ssrfHeaders
        for header in configuration.ssrfHeaders {
            let lower = header.lowercased()
            guard header.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_".unicodeScalars.contains($0)) }),
                  !["authorization", "cookie", "host", "proxy-authorization", "x-forwarded-for", "forwarded"].contains(lower) else {
                throw invalid(file, "'ssrf_headers' holds '\(header.printable(limit: 60))': a token header must be a header name that clients never send on their own")
            }
        }
        configuration.ssrfEnvironmentVariables = try reader.strings("ssrf_env_variables") ?? configuration.ssrfEnvironmentVariables
        configuration.pathPrefix = try reader.string("path_prefix") ?? "/v1/"
        guard configuration.pathPrefix.hasPrefix("/") else { throw invalid(file, "'path_prefix' must start with '/'") }
        configuration.region = try reader.string("region")
        configuration.ignoreTransientErrors = try reader.bool("ignore_transient_errors") ?? true
        configuration.maxStalenessSeconds = try reader.int("max_staleness_seconds", 0...604_800) ?? 3600
        if try reader.bool("validate_credentials") == true || table.keys.contains("credentials_file_path") {
            throw invalid(file, "'validate_credentials' and 'credentials_file_path' are not supported yet: remove them (credentials come from rotor's AWS credential chain)")
        }
        return configuration
    }

    static func invalid(_ file: String, _ problem: String) -> RotorError {
        RotorError(.invalidInput, "agent configuration \(file.printable(limit: 200)): \(problem)", remedy: "fix the file; the agent did not start")
    }

    /// Typed reads with the key named in every error.
    struct Reader {
        let table: TOMLTable
        let file: String

        func value(_ key: String) -> TOMLValue? { table[key]?.tomlValue }

        func string(_ key: String) throws(RotorError) -> String? {
            guard let value = value(key) else { return nil }
            guard let text = value.string else { throw AgentConfiguration.invalid(file, "'\(key)' must be a string") }
            return text
        }

        func bool(_ key: String) throws(RotorError) -> Bool? {
            guard let value = value(key) else { return nil }
            guard let flag = value.bool else { throw AgentConfiguration.invalid(file, "'\(key)' must be true or false") }
            return flag
        }

        func int(_ key: String, _ range: ClosedRange<Int>) throws(RotorError) -> Int? {
            guard let value = value(key) else { return nil }
            guard let number = value.int, range.contains(number) else {
                throw AgentConfiguration.invalid(file, "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }

        func strings(_ key: String) throws(RotorError) -> [String]? {
            guard let value = value(key) else { return nil }
            guard let array = value.array, !array.isEmpty else { throw AgentConfiguration.invalid(file, "'\(key)' must be a non-empty list of strings") }
            var result: [String] = []
            for item in array {
                guard let text = item.string, !text.isEmpty else { throw AgentConfiguration.invalid(file, "'\(key)' must be a non-empty list of strings") }
                result.append(text)
            }
            return result
        }
    }
}
