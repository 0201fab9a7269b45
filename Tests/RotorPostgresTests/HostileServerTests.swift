import Foundation
import Testing
import RotorTestSupport
import RotorCore
import RotorPostgres
import RotorStatePostgres
import Logging

/// A hostile server on loopback (Fixtures/hostile_postgres.py) that declines or accepts TLS and then
/// asks for the password in clear or as MD5, or claims the login succeeded without any proof: a
/// rotation in every TLS mode hands over no password and never takes such a server for the real one,
/// and the default mode never even sends the start-up message.
@Suite(.serialized) struct HostileServerTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Case: CustomTestStringConvertible, Sendable {
        let mode: String?
        let tls: String
        let auth: String
        var testDescription: String { "tls=\(mode ?? "default") server-tls=\(tls) auth=\(auth)" }
        /// Whether the hostile server gets as far as asking for a password.
        var serverAsks: Bool {
            switch mode {
            case nil, "verify-full": false
            case "require": tls == "accept"
            default: true
            }
        }
    }

    static let cases: [Case] = [nil, "require", "prefer", "disable"].flatMap { mode in
        ["decline", "accept"].flatMap { tls in ["cleartext", "md5", "trust"].map { Case(mode: mode, tls: tls, auth: $0) } }
    }

    @Test(arguments: cases)
    func aRotationHandsNoPasswordToAServerThatAsksForItInClearOrAsMD5(_ testCase: Case) async throws {
        let server = try await HostileServer(tls: testCase.tls, auth: testCase.auth)
        defer { server.stop() }
        let engine = try StoreKind.embedded.engine()
        let id = StoreKind.embedded.id("orders/db-credentials/app")
        let json = #"{"engine":"postgres","host":"127.0.0.1","port":\#(server.port),"username":"app","password":"CANARY-current-password","dbname":"postgres"}"#
        try await engine.createManagedSecret(id, rotator: "postgres-single-user", options: RotatorOptions(testCase.mode.map { ["tls": $0] } ?? [:]),
                                             initialValue: SecretValue(string: json))
        let report = try await engine.rotate(id)
        #expect(!report.succeeded)
        let capture = server.capture
        #expect(!capture.contains("received"), "the client answered the server's password request: \(capture)")
        #expect(capture.contains("asked-") == testCase.serverAsks, "\(capture)")
        if !testCase.serverAsks { #expect(!capture.contains("startup"), "no start-up message may reach an unverified server: \(capture)") }
        let history = try await engine.state.rotations(of: id, limit: 1).first
        let errors = history?.steps.compactMap(\.error).joined(separator: "\n") ?? ""
        #expect(!errors.contains("CANARY"))
        if testCase.serverAsks {
            let asked = ["md5": "an MD5 password", "cleartext": "a cleartext password", "trust": "no authentication at all"][testCase.auth]!
            #expect(errors.contains(asked) && errors.contains("sent no password"), "\(errors)")
        }
    }

    /// rotor's own state database connects through the same guard: in every TLS mode it answers no
    /// cleartext or MD5 request and accepts no login without proof.
    @Test(arguments: cases)
    func theStateDatabaseSendsNoPasswordToAServerThatAsksForItInClearOrAsMD5(_ testCase: Case) async throws {
        let server = try await HostileServer(tls: testCase.tls, auth: testCase.auth)
        defer { server.stop() }
        let settings = try PostgresStateSettings(
            host: "127.0.0.1", port: server.port, username: "rotor", password: SecretValue(string: "CANARY-state-password"), database: "postgres",
            tls: testCase.mode.flatMap(PostgresTLSMode.init(rawValue:)) ?? .default)
        await #expect { _ = try await PostgresStateStore.open(settings, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) } throws: { error in
            (error as? RotorError)?.code == .insecurePeer && !"\(error)".contains("CANARY")
        }
        // The server notes its request after sending it: give it a moment to reach the file.
        var capture = server.capture
        for _ in 0..<40 where testCase.serverAsks && !capture.contains("asked-") {
            try await Task.sleep(for: .milliseconds(50))
            capture = server.capture
        }
        #expect(!capture.contains("received"), "the state store answered the server's password request: \(capture)")
        #expect(capture.contains("asked-") == testCase.serverAsks, "\(capture)")
        if !testCase.serverAsks { #expect(!capture.contains("startup"), "no start-up message may reach an unverified server: \(capture)") }
    }

    @Test func theAuditRecordAndStatusSayWhenTLSIsWeakened() async throws {
        let engine = try StoreKind.embedded.engine()
        let id = StoreKind.embedded.id("orders/db-credentials/app")
        let json = #"{"engine":"postgres","host":"127.0.0.1","port":1,"username":"app","password":"p","dbname":"postgres"}"#
        try await engine.createManagedSecret(id, rotator: "postgres-single-user", options: RotatorOptions(["tls": "prefer", "connect-timeout": "0.5"]),
                                             initialValue: SecretValue(string: json))
        _ = try await engine.rotate(id)
        let start = try await engine.state.auditEvents(of: id, limit: 10).first { $0.operation == "rotation.start" }
        #expect(start?.detail?.contains("security weakened: tls=prefer") == true, "\(String(describing: start))")
    }
}

/// Runs Fixtures/hostile_postgres.py on a free loopback port.
final class HostileServer: @unchecked Sendable {
    let process = ChildProcess()
    let directory: URL
    let port: Int

    init(tls: String, auth: String) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (cert, key) = try await Self.certificate.value
        let portFile = directory.appendingPathComponent("port")
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("capture").path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", HostileServerTests.fixtures.appendingPathComponent("hostile_postgres.py").path, portFile.path,
                             directory.appendingPathComponent("capture").path, "tls=\(tls)", "auth=\(auth)", cert, key]
        try process.run()
        var port: Int?
        for _ in 0..<200 where port == nil {
            port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap(Int.init)
            if port == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard let port else { throw RotorError(.storeUnavailable, "the hostile server did not start") }
        self.port = port
    }

    /// One self-signed certificate for every hostile server of the run, made once.
    static let certificate = Task<(String, String), any Error> {
        let made = try await SelfSignedCertificate.make(in: FileManager.default.temporaryDirectory.appendingPathComponent("rotor-hostile-cert-\(UUID().uuidString)"))
        return (made.certificatePath, made.keyPath)
    }

    var capture: String { (try? String(contentsOf: directory.appendingPathComponent("capture"), encoding: .utf8)) ?? "" }

    func stop() {
        // No waitUntilExit: Foundation's can spin forever on Linux for a child that is already gone.
        kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }
}
