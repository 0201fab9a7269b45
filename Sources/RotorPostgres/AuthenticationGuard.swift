import NIOCore

/// Sits between TLS and postgres-nio and reads the server's authentication requests before
/// postgres-nio sees them. Only a complete SCRAM-SHA-256 exchange is let through: a server that asks
/// for the password in clear, as MD5, by any other method, or that skips authentication, gets the
/// connection closed, so postgres-nio never answers it and no password leaves rotor. After
/// `AuthenticationOk` it only forwards bytes.
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

    /// Where the SCRAM exchange stands: Ok is accepted only after SASLFinal (12), whose server
    /// signature postgres-nio verifies, so a server cannot skip authentication ("trust") and still be
    /// taken for the real one.
    private enum Stage { case start, offered, continued, final }
    private var stage = Stage.start
    /// PBKDF2 iterations a server may ask for: fewer make an intercepted proof cheap to attack,
    /// more stall an event loop (postgres-nio computes them inline).
    static let iterations = 4096...1_000_000

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
        // Before authentication the server sends only short messages; anything else is refused
        // rather than buffered.
        if let length = bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self), length < 4 || length > 16_384 {
            context.fireErrorCaught(PostgresAuthenticationRefused(method: "a malformed message before authentication"))
            context.close(promise: nil)
            return
        }
        while !authenticated, let message = Self.nextMessage(&bytes) {
            if let refused = vet(message) {
                context.fireErrorCaught(PostgresAuthenticationRefused(method: refused))
                context.close(promise: nil)
                return
            }
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

    /// Advances the SCRAM stage; returns what the server asked for when it must be refused.
    private func vet(_ message: ByteBuffer) -> String? {
        guard message.getInteger(at: message.readerIndex, as: UInt8.self) == UInt8(ascii: "R"),
              let code = message.getInteger(at: message.readerIndex + 5, as: Int32.self) else { return nil }
        switch (code, stage) {
        case (10, .start): stage = .offered
        case (11, .offered):
            guard let count = Self.iterationCount(message), Self.iterations.contains(count) else {
                return "SCRAM with an iteration count outside \(Self.iterations.lowerBound)-\(Self.iterations.upperBound)"
            }
            stage = .continued
        case (12, .continued): stage = .final
        case (0, .final): authenticated = true
        case (0, _): return "no authentication at all (it accepted the login without SCRAM)"
        case (10, _), (11, _), (12, _): return "SCRAM messages out of order"
        default: return Self.methodName(code)
        }
        return nil
    }

    /// The `i=` of a SASLContinue's server-first-message (`r=…,s=…,i=…`).
    static func iterationCount(_ message: ByteBuffer) -> Int? {
        guard let text = message.getString(at: message.readerIndex + 9, length: message.readableBytes - 9) else { return nil }
        return text.split(separator: ",").first { $0.hasPrefix("i=") }.flatMap { Int($0.dropFirst(2)) }
    }

    /// One whole backend message (type byte, length, body), or nil until it has arrived.
    static func nextMessage(_ bytes: inout ByteBuffer) -> ByteBuffer? {
        guard let length = bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self), length >= 4,
              bytes.readableBytes >= Int(length) + 1 else { return nil }
        return bytes.readSlice(length: Int(length) + 1)
    }
}

/// The server asked for an authentication method rotor never answers.
struct PostgresAuthenticationRefused: Error {
    let method: String
}
