import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A small HTTP/1.1 server on 127.0.0.1 for tests: it hands each request to `respond`, which
/// decides what happens (answer, forward, delay, drop the connection).
public final class LoopbackHTTPServer: Sendable {
    public struct Request: Sendable {
        public let head: HTTPRequestHead
        public let body: [UInt8]
        public var target: String? { head.headers.first(name: "X-Amz-Target") }
    }

    public enum Reply: Sendable {
        case respond(status: Int, headers: [(String, String)], body: [UInt8])
        /// Close the connection without answering.
        case drop
    }

    let channel: any Channel
    /// The loopback address it listens on.
    public let host: String
    public var port: Int { channel.localAddress!.port! }
    let scheme: String
    public var url: URL { URL(string: "\(scheme)://\(host):\(port)")! }

    /// - Parameters:
    ///   - host: a loopback address; `uniqueLoopbackAddress()` gives a server an address of its own, so
    ///     a late request of another test to a closed server whose port was reused cannot reach it.
    ///   - tls: serve HTTPS with this context.
    public init(host: String = "127.0.0.1", tls: NIOSSLContext? = nil, respond: @escaping @Sendable (Request) async -> Reply) async throws {
        self.host = host
        scheme = tls == nil ? "http" : "https"
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                }.flatMap {
                    channel.pipeline.configureHTTPServerPipeline()
                }.flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(Handler(respond: respond))
                }
            }
            .bind(host: host, port: 0).get()
    }

    /// A random address in 127.0.0.0/8 (all of it is loopback on Linux).
    public static func uniqueLoopbackAddress() -> String {
        "127.\(Int.random(in: 1...254)).\(Int.random(in: 0...255)).\(Int.random(in: 1...254))"
    }

    public func close() async throws { try await channel.close() }

    final class Handler: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let respond: @Sendable (Request) async -> Reply
        private let pending = Mutex<(head: HTTPRequestHead?, body: [UInt8])>((nil, []))

        init(respond: @escaping @Sendable (Request) async -> Reply) { self.respond = respond }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): pending.withLock { $0 = (head, []) }
            case .body(let buffer): pending.withLock { $0.body += Array(buffer.readableBytesView) }
            case .end:
                let (head, body) = pending.withLock { $0 }
                guard let head else { return }
                let loop = context.eventLoop
                let bound = NIOLoopBound((context, self), eventLoop: loop)
                // Off the cooperative threads: callers in other processes have deadlines.
                Task(executorPreference: DedicatedExecutor.shared) {
                    let reply = await self.respond(Request(head: head, body: body))
                    loop.execute { bound.value.1.write(reply, context: bound.value.0) }
                }
            }
        }

        private func write(_ reply: Reply, context: ChannelHandlerContext) {
            switch reply {
            case .drop:
                context.close(promise: nil)
            case .respond(let status, let headers, let body):
                var head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status))
                for (name, value) in headers where name.lowercased() != "content-length" && name.lowercased() != "transfer-encoding" {
                    head.headers.add(name: name, value: value)
                }
                head.headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)")
                context.write(wrapOutboundOut(.head(head)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// A proxy in front of moto that injects faults by operation: throttling, 500s, slow responses,
/// dropped connections, and responses lost after the request took effect.
public final class FaultInjectingProxy: Sendable {
    public enum Fault: Sendable, Equatable {
        /// `slow` forwards at once and answers after the delay; `dropAfterForwarding` forwards and loses the answer.
        case throttle, serverError, slow(Duration), drop, dropAfterForwarding
    }

    /// The faults still to inject, per operation, and what was injected.
    public final class Plan: Sendable {
        private let faults = Mutex<[String: [Fault]]>([:])
        private let log = Mutex<[String]>([])

        private let outage = Mutex<Fault?>(nil)

        func add(_ operation: String, _ list: [Fault]) { faults.withLock { $0[operation, default: []] += list } }
        func setOutage(_ fault: Fault?) { outage.withLock { $0 = fault } }

        func next(_ operation: String) -> Fault? {
            if let down = outage.withLock({ $0 }) {
                log.withLock { $0.append("\(operation) <- outage \(down)") }
                return down
            }
            let fault = faults.withLock { faults -> Fault? in
                guard var list = faults[operation], !list.isEmpty else { return nil }
                let first = list.removeFirst()
                faults[operation] = list
                return first
            }
            log.withLock { $0.append("\(operation)\(fault.map { " <- \($0)" } ?? "")") }
            return fault
        }

        public var remaining: Int { faults.withLock { $0.values.map(\.count).reduce(0, +) } }
        public var calls: [String] { log.withLock { $0 } }

        private let statuses = Mutex<[Int]>([])
        func answered(_ status: Int) { statuses.withLock { $0.append(status) } }
        /// The statuses of the answers moto gave to forwarded calls (not injected faults), in order.
        public var forwardedStatuses: [Int] { statuses.withLock { $0 } }
    }

    public let plan = Plan()
    let server: LoopbackHTTPServer
    let upstream: URL

    public init(upstream: URL) async throws {
        self.upstream = upstream
        let plan = self.plan
        server = try await LoopbackHTTPServer(host: LoopbackHTTPServer.uniqueLoopbackAddress()) { request in
            await Self.handle(request, plan: plan, upstream: upstream)
        }
    }

    public var url: URL { server.url }
    public func close() async throws { try await server.close() }

    /// Queues faults for the next calls of `operation` (e.g. "PutSecretValue").
    public func inject(_ operation: String, _ list: Fault...) { plan.add(operation, list) }

    /// Every call fails with `fault` until the outage is set back to `nil` (moto is "down").
    public func outage(_ fault: Fault?) { plan.setOutage(fault) }

    static func handle(_ request: LoopbackHTTPServer.Request, plan: Plan, upstream: URL) async -> LoopbackHTTPServer.Reply {
        let operation = request.target?.replacingOccurrences(of: "secretsmanager.", with: "") ?? "?"
        switch plan.next(operation) {
        case .throttle?:
            return error(400, "ThrottlingException", "Rate exceeded")
        case .serverError?:
            return error(500, "InternalServiceError", "An error occurred on the server side.")
        case .slow(let delay)?:
            // The request reaches the emulator at once and only its answer is late: a client that
            // times out and retries never races its own earlier request (which, forwarded late, would
            // land after the rotation moved on, and moto resets the labels of a repeated put).
            let reply = await forward(request, to: upstream)
            try? await Task.sleep(for: delay)
            return reply
        case .drop?:
            return .drop
        case .dropAfterForwarding?:
            _ = await forward(request, to: upstream)
            return .drop
        case nil:
            let reply = await forward(request, to: upstream)
            if case .respond(let status, _, _) = reply { plan.answered(status) }
            return reply
        }
    }

    static func error(_ status: Int, _ type: String, _ message: String) -> LoopbackHTTPServer.Reply {
        .respond(status: status, headers: [("Content-Type", "application/x-amz-json-1.1")],
                 body: Array(#"{"__type":"\#(type)","message":"\#(message)"}"#.utf8))
    }

    /// Forwards the request as it came (the signed Host header included) and returns moto's answer.
    static func forward(_ request: LoopbackHTTPServer.Request, to upstream: URL) async -> LoopbackHTTPServer.Reply {
        var outgoing = HTTPClientRequest(url: upstream.absoluteString + request.head.uri)
        outgoing.method = request.head.method
        for (name, value) in request.head.headers { outgoing.headers.add(name: name, value: value) }
        outgoing.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
            return .respond(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: Array(body.readableBytesView))
        } catch {
            return .drop
        }
    }
}
