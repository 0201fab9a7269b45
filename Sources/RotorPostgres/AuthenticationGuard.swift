import NIOCore

/// Sits between TLS and postgres-nio and reads the server's authentication requests before
/// postgres-nio sees them. Only SCRAM-SHA-256 (SASL) is let through: a server that asks for the
/// password in clear, as MD5, or by any other method gets the connection closed, so postgres-nio never
/// answers it and no password leaves rotor. After `AuthenticationOk` it only forwards bytes.
final class AuthenticationGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The authentication methods a PostgreSQL server can request (`AuthenticationRequest` codes).
    static func methodName(_ code: Int32) -> String {
        switch code {
        case 2: "Kerberos V5"
        case 3: "a cleartext password"
        case 5: "an MD5 password"
        case 7, 8: "GSSAPI"
        case 9: "SSPI"
        default: "authentication method \(code)"
        }
    }

    /// SASL (10), SASLContinue (11), SASLFinal (12) and Ok (0) are the SCRAM exchange.
    static let allowedCodes: Set<Int32> = [0, 10, 11, 12]

    private var pending: ByteBuffer?
    private var authenticated = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !authenticated else { return context.fireChannelRead(data) }
        if var buffered = pending {
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        pending = nil
        var vetted = context.channel.allocator.buffer(capacity: bytes.readableBytes)
        while !authenticated, let message = Self.nextMessage(&bytes) {
            if let refused = Self.refusedMethod(in: message) {
                context.fireErrorCaught(PostgresAuthenticationRefused(method: refused))
                context.close(promise: nil)
                return
            }
            if Self.isAuthenticationOk(message) { authenticated = true }
            var copy = message
            vetted.writeBuffer(&copy)
        }
        if authenticated {
            vetted.writeBuffer(&bytes)
        } else if bytes.readableBytes > 0 {
            pending = bytes
        }
        if vetted.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(vetted)) }
    }

    /// One whole backend message (type byte, length, body), or nil until it has arrived.
    static func nextMessage(_ bytes: inout ByteBuffer) -> ByteBuffer? {
        guard let length = bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self), length >= 4,
              bytes.readableBytes >= Int(length) + 1 else { return nil }
        return bytes.readSlice(length: Int(length) + 1)
    }

    /// The method a refused `AuthenticationRequest` asks for, or nil when the message may pass.
    static func refusedMethod(in message: ByteBuffer) -> String? {
        guard message.getInteger(at: message.readerIndex, as: UInt8.self) == UInt8(ascii: "R"),
              let code = message.getInteger(at: message.readerIndex + 5, as: Int32.self) else { return nil }
        return allowedCodes.contains(code) ? nil : methodName(code)
    }

    static func isAuthenticationOk(_ message: ByteBuffer) -> Bool {
        message.getInteger(at: message.readerIndex, as: UInt8.self) == UInt8(ascii: "R")
            && message.getInteger(at: message.readerIndex + 5, as: Int32.self) == 0
    }
}

/// The server asked for an authentication method rotor never answers.
struct PostgresAuthenticationRefused: Error {
    let method: String
}
