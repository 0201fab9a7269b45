import ArgumentParser
import Foundation
import RotorCore

/// rotor's exit codes. Documented in README.md.
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    /// A batch left secrets that a person must rotate.
    static let needsPerson: Int32 = 2
    static let notFound: Int32 = 3
    static let rotationFailed: Int32 = 4
    static let quarantined: Int32 = 5
    static let storeError: Int32 = 6
    static let usage: Int32 = 64
    /// A batch stopped by SIGINT/SIGTERM.
    static let interrupted: Int32 = 130

    static func code(for error: RotorError) -> Int32 {
        switch error.code {
        case .invalidSecretID, .invalidParameter, .invalidInput, .unknownRotator, .invalidOption, .environmentMismatch:
            usage
        case .secretNotFound, .versionNotFound, .notManaged:
            notFound
        case .quarantined:
            quarantined
        case .wrongMasterKey, .storeCorrupted, .storeUnavailable, .accessDenied, .authenticationFailed, .insecurePeer:
            storeError
        case .stepFailed, .rolledBack, .rollbackFailed, .pendingRetry, .previousRotationIncomplete, .untestedVersion:
            rotationFailed
        default:
            failure
        }
    }
}

/// Runs a command body and turns a ``RotorError`` into a message on stderr and its exit code.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as RotorError {
        Output.error("error: \(error)")
        throw ExitCode(ExitStatus.code(for: error))
    } catch let error as ExitCode {
        throw error
    } catch {
        Output.error("error: \(RotorError.wrapping(error))")
        throw ExitCode(ExitStatus.failure)
    }
}

/// Writes to stdout and stderr.
enum Output {
    static func line(_ text: String) { print(text) }
    static func error(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

    static func json(_ object: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    }

    static func timestamp(_ date: Date?) -> String {
        guard let date else { return "never" }
        return date.formatted(.iso8601)
    }

    static func isoOrNull(_ date: Date?) -> Any { date.map { $0.formatted(.iso8601) } ?? NSNull() }
}
