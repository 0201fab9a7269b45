import NIOCore
import PostgresNIO
import RotorCore
import RotorPostgres

/// The state database's failures as rotor errors: what failed and what to do, never the password.
enum StateStoreErrors {
    static let remedy = "check that the state database is up and reachable (rotor status, runbooks/multi-host.md); rotations resume from the journal once it answers"

    static func unreachable(_ settings: PostgresStateSettings, detail: String) -> RotorError {
        RotorError(.storeUnavailable, "the state database \(target(settings)) is unreachable: \(detail.prefix(200))", remedy: remedy, isTransient: true)
    }

    /// A failure to open a connection: a refused peer (weak authentication, TLS not verified) is not transient.
    static func connecting(_ error: any Error, _ settings: PostgresStateSettings) -> RotorError {
        if let refused = PostgresConnector.refusal(error, target: target(settings), id: nil, step: nil) {
            return RotorError(
                .insecurePeer, "state database: \(refused.summary)",
                remedy: "use scram-sha-256 on the server and give its CA with sslrootcert= in the state URL; if the server is not yours, something on the path is impersonating it")
        }
        if let psql = error as? PSQLError, psql.code == .server {
            let state = psql.serverInfo?[.sqlState] ?? ""
            if state == "28P01" || state == "28000" {
                return RotorError(.authenticationFailed, "the state database \(target(settings)) rejected rotor's login",
                                  remedy: "check the user in the state URL and ROTOR_STATE_PASSWORD(_FILE)")
            }
            return failed(error, settings, what: "opening a connection")
        }
        let detail = error is ChannelError || error is IOError ? "\(error)" : "\((error as? PSQLError)?.code.description ?? "\(type(of: error))")"
        return unreachable(settings, detail: detail)
    }

    /// A statement the server refused or a connection lost mid-transaction.
    static func failed(_ error: any Error, _ settings: PostgresStateSettings, what: String) -> RotorError {
        if let error = error as? RotorError { return error }
        if error is StateSession.CommitOutcomeUnknown {
            return RotorError(
                .storeUnavailable, "the connection to the state database \(target(settings)) failed after \(what) was committed: it may or may not have been recorded",
                remedy: "nothing to undo: the next run reads the journal as it is and resumes with the same token (check the database: rotor status)")
        }
        if error is PostgresDecodingError {
            return RotorError(.storeCorrupted, "the state database \(target(settings)) holds a row rotor cannot read (\(what))",
                              remedy: "check the schema's migrations (runbooks/multi-host.md); restore it from a backup if it was edited by hand")
        }
        guard let psql = error as? PSQLError, psql.code == .server else {
            let detail = (error as? PSQLError)?.code.description ?? "\(type(of: error))"
            return unreachable(settings, detail: "\(what): \(detail)")
        }
        let state = psql.serverInfo?[.sqlState] ?? ""
        let message = psql.serverInfo?[.message].map { String(String($0.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }).prefix(200)) } ?? ""
        // Serialization failures, deadlocks, lock, statement and idle-in-transaction timeouts, shutdowns: worth a retry.
        let transient = ["40001", "40P01", "55P03", "57014", "25P03", "57P01", "57P02", "57P03", "53300"].contains(state) || state.hasPrefix("08")
        return RotorError(transient ? .storeUnavailable : .storeCorrupted,
                          "the state database \(target(settings)) refused \(what): [\(state)] \(message)",
                          remedy: transient ? remedy : "check the schema's grants and migrations (rotor state migrate), runbooks/multi-host.md",
                          isTransient: transient)
    }

    static func target(_ settings: PostgresStateSettings) -> String {
        "\(settings.username)@\(settings.host):\(settings.port)/\(settings.database) (schema \(settings.schema))"
    }

    static func sqlState(_ error: any Error) -> String? {
        guard let psql = error as? PSQLError, psql.code == .server else { return nil }
        return psql.serverInfo?[.sqlState]
    }
}
