import Foundation
import RotorCore

/// Reads a secret value from standard input: at most 65,536 bytes (Secrets Manager's limit),
/// not empty, one trailing newline removed.
enum StdinValue {
    static let limit = 65_536

    static func read(secret: SecretID?) throws -> SecretValue {
        var data = Data()
        while data.count <= limit {
            let chunk = FileHandle.standardInput.readData(ofLength: limit + 1 - data.count)
            if chunk.isEmpty { break }
            data.append(chunk)
        }
        return try parse(data, secret: secret)
    }

    static func parse(_ data: Data, secret: SecretID?) throws(RotorError) -> SecretValue {
        guard data.count <= limit else {
            throw RotorError(.invalidInput, "the value on stdin is larger than \(limit) bytes", secret: secret, remedy: "supply a smaller value; nothing was changed")
        }
        var bytes = Array(data)
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else {
            throw RotorError(.invalidInput, "the value on stdin is empty", secret: secret, remedy: "pipe or type the new value, then end input (Ctrl-D); nothing was changed")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw RotorError(.invalidInput, "the value on stdin is not UTF-8 text", secret: secret, remedy: "supply text; nothing was changed")
        }
        return SecretValue(string: text)
    }
}
