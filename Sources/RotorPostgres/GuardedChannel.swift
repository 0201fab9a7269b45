import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Opens the TCP connection to PostgreSQL itself, negotiates TLS as the mode demands (PostgreSQL's
/// `SSLRequest`), and puts an ``AuthenticationGuard`` above TLS, before handing the channel to
/// postgres-nio. postgres-nio then only writes the startup message and answers SCRAM.
enum GuardedChannel {
    /// Why a channel could not be opened, in words that name no secret.
    struct Failure: Error {
        let problem: String
        let remedy: String
    }

    /// - Parameters:
    ///   - connectTimeout: for the TCP connection.
    ///   - deadline: closes the channel if TLS and the login have not finished by then (the caller cancels it).
    static func open(host: String, port: Int, mode: PostgresTLSMode, caFile: String?, connectTimeout: TimeAmount,
                     loginTimeout: TimeAmount) async throws -> (any Channel, Scheduled<Void>) {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(connectTimeout)
        let channel = try await bootstrap.connect(host: host, port: port).get()
        let deadline = channel.eventLoop.scheduleTask(in: loginTimeout) { channel.close(promise: nil) }
        do {
            try await withTaskCancellationHandler { try await negotiate(channel, host: host, mode: mode, caFile: caFile) } onCancel: { channel.close(promise: nil) }
            return (channel, deadline)
        } catch {
            deadline.cancel()
            try? await channel.close()
            throw error
        }
    }

    private static func negotiate(_ channel: any Channel, host: String, mode: PostgresTLSMode, caFile: String?) async throws {
        guard mode != .disable else {
            try await channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(AuthenticationGuard()) }.get()
            return
        }
        let answer = try await askForTLS(channel)
        switch (answer, mode) {
        case (UInt8(ascii: "S"), _):
            let context = try tlsContext(mode: mode, caFile: caFile)
            let handshake = channel.eventLoop.makePromise(of: Void.self)
            do {
                try await channel.eventLoop.submit {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: host.isIPAddress ? nil : host)
                    try channel.pipeline.syncOperations.addHandlers([tls, HandshakeWatcher(handshake), AuthenticationGuard()])
                }.get()
            } catch {
                handshake.fail(error)
                throw error
            }
            try await handshake.futureResult.get()
            if mode == .verifyFull, !host.isIPAddress { try await requireDNSName(host, channel) }
        case (UInt8(ascii: "N"), .prefer):
            try await channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(AuthenticationGuard()) }.get()
        case (UInt8(ascii: "N"), _):
            throw Failure(problem: "the server declined TLS, which tls=\(mode.rawValue) requires",
                          remedy: "enable ssl on the server, or (only on a trusted network) set the rotator option tls=prefer or tls=disable")
        default:
            throw Failure(problem: "the server answered the TLS request with something other than PostgreSQL's 'S' or 'N'",
                          remedy: "check that host and port point at PostgreSQL")
        }
    }

    /// Sends `SSLRequest` and reads the server's one-byte answer.
    private static func askForTLS(_ channel: any Channel) async throws -> UInt8 {
        let answer = channel.eventLoop.makePromise(of: UInt8.self)
        do {
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(OneByteReader(answer), name: OneByteReader.name)
            }.get()
            var request = channel.allocator.buffer(capacity: 8)
            request.writeInteger(Int32(8))
            request.writeInteger(Int32(80877103))
            try await channel.writeAndFlush(request)
        } catch {
            answer.fail(error) // a promise is completed on every path
            throw error
        }
        return try await answer.futureResult.get()
    }

    /// NIOSSL accepts a certificate whose IP address names the peer even when a host name was asked
    /// for; verify-full, as libpq has it, wants the host name itself among the certificate's DNS names.
    private static func requireDNSName(_ host: String, _ channel: any Channel) async throws {
        let names = try await channel.eventLoop.submit {
            let certificate = try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
            guard let names = certificate?._subjectAlternativeNames() else { return [String]() }
            return names.compactMap { name -> String? in
                guard name.nameType == .dnsName else { return nil }
                return String(decoding: name.contents, as: UTF8.self)
            }
        }.get()
        guard names.contains(where: { dnsName($0, matches: host) }) else {
            throw Failure(problem: "the server's certificate does not name \(host) (it names \(names.isEmpty ? "no DNS name" : names.prefix(5).joined(separator: ", ")))",
                          remedy: "connect by a name the certificate carries, or reissue the certificate with \(host) as a subject alternative name")
        }
    }

    /// RFC 6125 matching: case-insensitive, a wildcard only as the whole left-most label.
    static func dnsName(_ pattern: String, matches host: String) -> Bool {
        let pattern = pattern.lowercased(), host = host.lowercased().hasSuffix(".") ? String(host.lowercased().dropLast()) : host.lowercased()
        guard pattern.hasPrefix("*.") else { return pattern == host }
        guard let dot = host.firstIndex(of: "."), host.startIndex != dot else { return false }
        return host[dot...] == pattern.dropFirst()
    }

    static func tlsContext(mode: PostgresTLSMode, caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if mode == .verifyFull {
            configuration.certificateVerification = .fullVerification
            if let caFile { configuration.trustRoots = .file(caFile) }
        } else {
            configuration.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Reads the single byte that answers `SSLRequest`, then leaves the pipeline.
private final class OneByteReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    static let name = "rotor.ssl-answer"
    private let answer: EventLoopPromise<UInt8>
    init(_ answer: EventLoopPromise<UInt8>) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard let byte = bytes.readInteger(as: UInt8.self) else { return }
        // Anything after the answer byte before our TLS handshake is an attack on the negotiation.
        guard bytes.readableBytes == 0 else {
            answer.fail(GuardedChannel.Failure(problem: "the server sent data before the TLS handshake", remedy: "check the path to the server"))
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        answer.succeed(byte)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.fail(GuardedChannel.Failure(problem: "the server closed the connection during TLS negotiation", remedy: "check that the server is up"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { answer.fail(error) }
}

/// Completes a promise when the TLS handshake finishes (or fails), then forwards everything.
private final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let done: EventLoopPromise<Void>
    init(_ done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { done.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(GuardedChannel.Failure(problem: "the server closed the connection during the TLS handshake", remedy: "check the server's TLS set-up"))
        context.fireChannelInactive()
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 literal (TLS then checks the certificate's IP addresses, and sends no SNI).
    var isIPAddress: Bool { (try? SocketAddress(ipAddress: self, port: 0)) != nil }
}
