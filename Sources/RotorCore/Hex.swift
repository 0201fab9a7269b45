import Foundation

extension Sequence where Element == UInt8 {
    /// The bytes as lowercase hexadecimal.
    public var hexString: String { map { String(format: "%02x", $0) }.joined() }
}

extension Array where Element == UInt8 {
    /// Bytes from hexadecimal text (either case); `nil` for an odd length, a non-hex character or
    /// more than `maximumBytes` bytes.
    public init?(hex: some StringProtocol, maximumBytes: Int = 64) {
        guard hex.count % 2 == 0, hex.count <= 2 * maximumBytes else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self = bytes
    }
}
