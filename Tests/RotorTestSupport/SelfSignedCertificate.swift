import Foundation

/// A self-signed certificate for 127.0.0.1 made with openssl (through ``ChildProcess``, never
/// Foundation's `Process`): a loopback TLS server presents it and the client trusts it as its CA file.
public struct SelfSignedCertificate: Sendable {
    public let certificatePath: String
    public let keyPath: String

    /// Writes `cert.pem` and `key.pem` (P-256) into `directory`, creating it.
    public static func make(in directory: URL) async throws -> SelfSignedCertificate {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let made = SelfSignedCertificate(
            certificatePath: directory.appendingPathComponent("cert.pem").path, keyPath: directory.appendingPathComponent("key.pem").path)
        let openssl = ChildProcess()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", made.keyPath, "-out", made.certificatePath]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        await openssl.exited()
        guard openssl.terminationStatus == 0 else { throw ChildProcessError("openssl req exited with \(openssl.terminationStatus)") }
        return made
    }
}
