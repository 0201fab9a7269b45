import Crypto
import Foundation
import RotorCore

/// Authenticates the rotator and options rotor keeps for each managed secret in the state database
/// (options such as `tls` decide where a credential may go), so an edit made without the master key
/// is refused instead of obeyed.
public struct RotatorConfigAuthenticator: Sendable {
    let key: SymmetricKey

    init(_ master: MasterKey) { key = master.rotatorConfigKey }

    /// HMAC-SHA256 over the secret id, the rotator kind and the stored options text, each length-prefixed.
    public func mac(_ id: String, rotator: String, optionsJSON: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Self.message(id, rotator, optionsJSON), using: key))
    }

    /// Throws `storeCorrupted` unless `stored` is the MAC of exactly this row.
    public func verify(_ stored: Data?, id: String, rotator: String, optionsJSON: String) throws {
        guard let stored, HMAC<SHA256>.isValidAuthenticationCode(stored, authenticating: Self.message(id, rotator, optionsJSON), using: key) else {
            throw RotorError(
                .storeCorrupted,
                "the rotator or options recorded for this secret fail their integrity check: the state database was edited without the master key",
                secret: try? SecretID(id),
                remedy: "restore the state database from a backup (and find who could write it); rotor used nothing from that row")
        }
    }

    private static func message(_ id: String, _ rotator: String, _ optionsJSON: String) -> Data {
        // Every field is length-prefixed, so no field can absorb its neighbours.
        func field(_ text: String) -> String { "\(text.utf8.count):\(text)" }
        return Data(("rotor-rotator-config-v1" + field(id) + field(rotator) + field(optionsJSON)).utf8)
    }
}
