import Foundation

/// A moto_server of a test's own (scripts/moto.sh: authentication on, an IAM user for the tests), for
/// tests whose load would disturb the shared one. Stopped by ``stop()``.
public final class OwnMoto: Sendable {
    public let settings: MotoSettings.Settings
    let directory: URL

    public init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("own-moto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await Self.script("start", directory)
        let text = try String(contentsOf: directory.appendingPathComponent("moto.env"), encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let assignment = line.hasPrefix("export ") ? line.dropFirst("export ".count) : line[...]
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            values[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        guard let endpoint = values["ROTOR_TEST_MOTO_ENDPOINT"].flatMap(URL.init(string:)), let key = values["ROTOR_TEST_MOTO_ACCESS_KEY_ID"],
              let secret = values["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] else { throw ChildProcessError("scripts/moto.sh wrote no settings: \(text)") }
        settings = MotoSettings.Settings(endpoint: endpoint, accessKey: key, secretKey: secret)
    }

    public func stop() async { try? await Self.script("stop", directory) }

    private static func script(_ action: String, _ directory: URL) async throws {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [IAMMoto.repository.appendingPathComponent("scripts/moto.sh").path, action, directory.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        await process.exited()
        guard process.terminationStatus == 0 else { throw ChildProcessError("scripts/moto.sh \(action) exited \(process.terminationStatus)") }
    }
}
