import Foundation
import Testing
import RotorCore
import RotorStorage

/// The master key file: created whole or not at all (temporary file, fsync, link, directory fsync),
/// never replaced, and an empty or wrong-sized file is a clear error with the remedy.
@Suite struct MasterKeyFileTests {
    func source(_ directory: URL) -> MasterKeySource { .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")) }

    @Test func aNewKeyFileIsCompletePrivateAndLeavesNoTemporaryFile() throws {
        let directory = try TemporaryDirectory.make()
        let key = try source(directory).load(mayCreate: true)
        let file = directory.appendingPathComponent("master.key")
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .newlines).count == 44)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["master.key"])
        #expect("\(try source(directory).load(mayCreate: true))" == "\(key)", "a second load reads the same key, never a new one")
        var dumped = ""
        dump(key, to: &dumped)
        #expect(!dumped.contains(try String(contentsOf: file, encoding: .utf8).prefix(20)))
    }

    @Test(arguments: [("", "is empty"), ("\n", "is empty"), ("c2hvcnQ=\n", "must be 32 bytes, got 5"), ("not base64!\n", "is not valid base64")])
    func aDamagedKeyFileIsAClearError(contents: String, message: String) throws {
        let directory = try TemporaryDirectory.make()
        let file = directory.appendingPathComponent("master.key")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600])
        #expect { _ = try source(directory).load(mayCreate: true) } throws: { error in
            let text = "\(error)"
            return (error as? RotorError)?.code == .wrongMasterKey && text.contains(message) && text.contains("restore the key file")
        }
        #expect(try Data(contentsOf: file) == Data(contents.utf8), "the damaged file is left as it was, never replaced")
    }
}
