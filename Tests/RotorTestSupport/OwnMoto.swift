import Foundation

/// A moto_server of a test's own (scripts/moto.sh: authentication on, an IAM user for the tests), for
/// tests whose load would disturb the shared one. Stopped by ``stop()``.
public final class OwnMoto: Sendable {
    public let settings: MotoSettings.Settings
    let directory: URL

    public init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("own-moto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await ServiceScript.run("moto.sh", "start", directory)
        let values = try ServiceScript.exports(directory.appendingPathComponent("moto.env"))
        guard let endpoint = values["ROTOR_TEST_MOTO_ENDPOINT"].flatMap(URL.init(string:)), let key = values["ROTOR_TEST_MOTO_ACCESS_KEY_ID"],
              let secret = values["ROTOR_TEST_MOTO_SECRET_ACCESS_KEY"] else { throw ChildProcessError("scripts/moto.sh wrote no settings") }
        settings = MotoSettings.Settings(endpoint: endpoint, accessKey: key, secretKey: secret)
    }

    public func stop() async { try? await ServiceScript.run("moto.sh", "stop", directory) }
}
