import RotorCore

extension RotatorRegistry {
    /// The rotators that ship with rotor: random-password, encryption-key and manual.
    public static let builtIn = RotatorRegistry([
        RandomPasswordRotator.descriptor,
        EncryptionKeyRotator.descriptor,
        ManualRotator.descriptor,
    ])
}
