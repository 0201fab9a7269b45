import Crypto
import RotorCore

/// Rotates a 256-bit AES key, stored as binary. testSecret proves an AES-GCM seal/open round trip.
/// The old key keeps the `AWSPREVIOUS` label, so data sealed under it can still be opened:
/// applications hold a key ring of current + previous (see runbooks/manual-rotation.md).
public struct EncryptionKeyRotator: Rotator {
    public let kind: RotatorKind = Self.kind
    public static let kind: RotatorKind = "encryption-key"
    public static let keyByteCount = 32

    public init() {}

    /// A fresh key from the system's cryptographic random number generator.
    public static func generateKey() -> SecretValue {
        SymmetricKey(size: .bits256).withUnsafeBytes { SecretValue(bytes: Array($0)) }
    }

    /// A new key owes nothing to the old one.
    public var createReadsCurrent: Bool { false }

    public func createSecret(_ request: CreateSecretRequest, context: RotationContext) async throws -> CreateSecretResponse {
        CreateSecretResponse(newValue: Self.generateKey())
    }

    public func testSecret(_ request: TestSecretRequest, context: RotationContext) async throws -> TestSecretResponse {
        let bytes = request.pending.exposedBytes
        guard request.pending.kind == .binary, bytes.count == Self.keyByteCount else {
            throw RotorError(
                .stepFailed, "the pending key is not \(Self.keyByteCount) binary bytes (\(request.pending.kind.rawValue), \(bytes.count) bytes)",
                secret: context.secret, step: .testSecret)
        }
        let key = SymmetricKey(data: bytes)
        let probe = Array("rotor encryption-key probe \(context.token)".utf8)
        let sealed = try AES.GCM.seal(probe, using: key)
        let opened = try AES.GCM.open(sealed, using: key)
        guard Array(opened) == probe else {
            throw RotorError(.stepFailed, "AES-GCM round trip with the pending key did not return the probe", secret: context.secret, step: .testSecret)
        }
        return TestSecretResponse()
    }

    public static let descriptor = RotatorDescriptor(
        kind: kind, summary: "a 256-bit AES-GCM key stored as binary; AWSPREVIOUS stays readable", options: [:],
        build: { _ throws(RotorError) in EncryptionKeyRotator() },
        initialValue: { _, _ in generateKey() })
}
