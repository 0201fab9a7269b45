import Foundation
import Testing
import RotorCore
import RotorPostgres

/// The secret JSON, TLS modes against the real server, and errors that never carry a password.
@Suite struct PostgresSecretTests {
    static let id = try! SecretID("/prod/orders/db-credentials/app")

    @Test(arguments: [
        ("not json", "not a JSON object"),
        (#"{"host":"h","username":"u","password":"p"}"#, "field 'engine' is missing"),
        (#"{"engine":"mysql","host":"h","username":"u","password":"p"}"#, "field 'engine' is not postgres or aurora-postgresql"),
        (#"{"engine":"postgres","username":"u","password":"p"}"#, "field 'host' is missing"),
        (#"{"engine":"postgres","host":"h","password":"p"}"#, "field 'username' is missing"),
        (#"{"engine":"postgres","host":"h","username":"u"}"#, "field 'password' is missing"),
        (#"{"engine":"postgres","host":"h","username":"u","password":"p","port":"x"}"#, "field 'port' must be a number"),
        (#"{"engine":"postgres","host":"h","username":"u","password":"p","port":70000}"#, "field 'port' must be a number"),
        (#"{"engine":"postgres","host":"h","username":"u","password":"p","ssl":"maybe"}"#, "field 'ssl' must be true or false"),
        (#"{"engine":"postgres","host":"h","username":"u","password":"p","masterarn":"not an id"}"#, "field 'masterarn' is not a secret id"),
    ])
    func malformedSecretsNameTheField(json: String, message: String) {
        #expect { try PostgresSecret(SecretValue(string: json.replacingOccurrences(of: "\"p\"", with: "\"CANARY-pw\"")), secret: Self.id) } throws: { error in
            let text = "\(error)"
            return text.contains(message) && !text.contains("CANARY")
        }
    }

    /// A batch rotates the master secret named in `masterarn` before the secret that changes its
    /// password through it; a value that does not parse names the field, never the password.
    @Test func alternatingUsersUseTheirMasterSecret() async throws {
        let rotator = try RotatorRegistry.withPostgres.make("postgres-alternating-users", options: RotatorOptions([:]))
        let value = SecretValue(string: #"{"engine":"postgres","host":"h","username":"u","password":"CANARY-pw","masterarn":"/prod/orders/db-credentials/master"}"#)
        #expect(try await rotator.secretsUsed(of: Self.id) { value }.map(\.secret) == ["/prod/orders/db-credentials/master"])
        let single = try RotatorRegistry.withPostgres.make("postgres-single-user", options: RotatorOptions([:]))
        #expect(try await single.secretsUsed(of: Self.id) { value }.isEmpty)
        await #expect { _ = try await rotator.secretsUsed(of: Self.id) { SecretValue(string: #"{"engine":"postgres","password":"CANARY-pw"}"#) } } throws: { error in
            "\(error)".contains("field 'host' is missing") && !"\(error)".contains("CANARY")
        }
    }

    @Test func alternatingUsersNeedAMaster() {
        #expect { try PostgresSecret(SecretValue(string: #"{"engine":"postgres","host":"h","username":"u","password":"p"}"#), secret: Self.id, requireMaster: true) } throws: {
            "\($0)".contains("field 'masterarn' is missing")
        }
    }

    @Test func writingBackKeepsOtherKeysAndRedacts() throws {
        let secret = try PostgresSecret(SecretValue(string: #"{"engine":"postgres","host":"h","port":5433,"username":"u","password":"CANARY-old","dbname":"d","team":"payments"}"#), secret: Self.id)
        #expect(!"\(secret)".contains("CANARY"))
        let updated = secret.with(username: "u_clone", password: SecretValue(string: "new"))
        let object = try JSONSerialization.jsonObject(with: Data(updated.exposedString!.utf8)) as! [String: Any]
        #expect(object["team"] as? String == "payments" && object["username"] as? String == "u_clone" && object["password"] as? String == "new")
        #expect(object["port"] as? Int == 5433 && object["dbname"] as? String == "d")
    }

    @Test func scramVerifierMatchesAKnownAnswer() {
        // RFC 7677's example: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
        let salt = Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!)
        #expect(ScramVerifier.make(password: SecretValue(string: "pencil"), salt: salt)
                == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")
    }

    @Test(.enabled(if: PG.enabled), arguments: ["disable", "prefer", "require", "verify-full"])
    func tlsModesConnectToTheRealServer(mode: String) async throws {
        let pg = try PG.require()
        let ca = ProcessInfo.processInfo.environment["ROTOR_TEST_PG_CA"]
        let secret = try PostgresSecret(SecretValue(string: try PG.json(user: pg.user, password: pg.password)), secret: Self.id)
        let connector = PostgresConnector(tls: PostgresTLSMode(rawValue: mode)!, caFile: mode == "verify-full" ? ca : nil)
        #expect(try await connector.canLogIn(secret, id: Self.id, step: nil))
    }

    @Test(.enabled(if: PG.enabled))
    func verifyFullRejectsAnUntrustedCertificate() async throws {
        let pg = try PG.require()
        let secret = try PostgresSecret(SecretValue(string: try PG.json(user: pg.user, password: pg.password)), secret: Self.id)
        let connector = PostgresConnector(tls: .verifyFull, caFile: nil)
        await #expect(throws: RotorError.self) {
            try await connector.withConnection(secret, id: Self.id, step: nil) { _ in }
        }
    }

    @Test(.enabled(if: PG.enabled))
    func verifyFullRejectsAWrongHostName() async throws {
        let pg = try PG.require()
        // The server's certificate names 127.0.0.1 only; "localhost" reaches the same server.
        let json = try PG.json(user: pg.user, password: pg.password).replacingOccurrences(of: "\"host\":\"127.0.0.1\"", with: "\"host\":\"localhost\"")
        let secret = try PostgresSecret(SecretValue(string: json), secret: Self.id)
        #expect(secret.host == "localhost")
        await #expect { try await PG.connector.withConnection(secret, id: Self.id, step: nil) { _ in } } throws: { error in
            let text = "\(error)"
            return (error as? RotorError)?.code == .insecurePeer && text.contains("no password was sent") && !text.contains(pg.password)
        }
    }

    @Test(.enabled(if: PG.enabled))
    func theDefaultModeVerifiesAndTheSecretsSSLFieldCannotWeakenIt() async throws {
        let pg = try PG.require()
        // ssl=false in the value would have meant "no TLS" before; now the connector's mode alone decides.
        let json = try PG.json(user: pg.user, password: pg.password).replacingOccurrences(of: "\"dbname\"", with: "\"ssl\":false,\"dbname\"")
        let secret = try PostgresSecret(SecretValue(string: json), secret: Self.id)
        #expect(secret.ssl == false)
        #expect(PostgresConnector().tls == .verifyFull)
        await #expect(throws: RotorError.self) { try await PostgresConnector().withConnection(secret, id: Self.id, step: nil) { _ in } }
        #expect(try await PG.connector.canLogIn(secret, id: Self.id, step: nil))
    }

    @Test func weakerModesAreReportedAndTheDefaultIsNot() throws {
        let registry = RotatorRegistry.withPostgres
        for kind: RotatorKind in ["postgres-single-user", "postgres-alternating-users"] {
            #expect(registry.securityWeaknesses(kind, options: RotatorOptions()).isEmpty)
            #expect(registry.securityWeaknesses(kind, options: RotatorOptions(["tls": "verify-full"])).isEmpty)
            for mode in ["require", "prefer", "disable"] {
                #expect(registry.securityWeaknesses(kind, options: RotatorOptions(["tls": mode])).first?.hasPrefix("tls=\(mode)") == true)
            }
        }
    }

    @Test func sessionTimeoutsHaveDefaultsAndRejectAbsurdValues() throws {
        for bad in ["0", "-1", "nan", "inf", "301", "x"] {
            #expect(throws: RotorError.self) { try RotatorRegistry.withPostgres.make("postgres-single-user", options: RotatorOptions(["statement-timeout": bad])) }
            #expect(throws: RotorError.self) { try RotatorRegistry.withPostgres.make("postgres-single-user", options: RotatorOptions(["lock-timeout": bad])) }
        }
        #expect(PostgresConnector().statementTimeout == .seconds(30) && PostgresConnector().lockTimeout == .seconds(10))
    }

    @Test(.enabled(if: PG.enabled))
    func everySessionHasBoundedStatementAndLockTimeouts() async throws {
        let pg = try PG.require()
        let secret = try PostgresSecret(SecretValue(string: try PG.json(user: pg.user, password: pg.password)), secret: Self.id)
        let connector = PostgresConnector(caFile: PG.caFile, statementTimeout: .milliseconds(1500), lockTimeout: .milliseconds(700))
        let settings = try await connector.withConnection(secret, id: Self.id, step: nil) { connection in
            try await connection.query("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')", logger: .init(label: "t"))
                .collect().map { try $0.decode((String, String).self) }
        }
        #expect(settings.first?.0 == "1500ms" && settings.first?.1 == "700ms", "\(settings)")
    }

    @Test func credentialHoldingTypesRedactThemselves() throws {
        let secret = try PostgresSecret(SecretValue(string: #"{"engine":"postgres","host":"h","username":"u","password":"CANARY-pg-password"}"#), secret: Self.id)
        var dumped = ""
        dump(secret, to: &dumped)
        let mirrored = Mirror(reflecting: secret).children.map { "\($0.label ?? ""): \($0.value)" }.joined()
        for text in [dumped, mirrored, secret.debugDescription, "\(secret)", String(reflecting: secret)] {
            #expect(!text.contains("CANARY"), "\(text)")
        }
    }

    @Test(.enabled(if: PG.enabled))
    func aRejectedLoginSaysSoWithoutThePassword() async throws {
        let secret = try PostgresSecret(SecretValue(string: try PG.json(user: "nobody_here", password: "CANARY-wrong-password")), secret: Self.id)
        await #expect { try await PG.connector.withConnection(secret, id: Self.id, step: .setSecret) { _ in } } throws: { error in
            let text = "\(error)"
            return (error as? RotorError)?.code == .authenticationFailed && text.contains("nobody_here@") && !text.contains("CANARY")
        }
    }
}
