import Foundation
import RotorTestSupport
import Synchronization

/// Lambda's Extensions API on loopback, as AWS documents it: `register` wants the extension's name
/// and both events and answers with an identifier; `event/next` wants that identifier and blocks
/// until the test sends an event (INVOKE or SHUTDOWN).
final class ExtensionsEmulator: Sendable {
    struct State {
        var registered: [String] = []
        var identifier: String?
        var events: [String] = []
        var waiters: [CheckedContinuation<String, Never>] = []
        var nextCalls = 0
        var refusals: [String] = []
    }

    private let state = Mutex(State())
    private let server: LoopbackHTTPServer
    var address: String { "127.0.0.1:\(server.port)" }
    var registered: [String] { state.withLock { $0.registered } }
    var nextCalls: Int { state.withLock { $0.nextCalls } }
    var refusals: [String] { state.withLock { $0.refusals } }

    init() async throws {
        let box = Box()
        server = try await LoopbackHTTPServer { request in await box.emulator!.route(request) }
        box.emulator = self
    }

    func close() async throws { try await server.close() }

    func send(_ event: String) {
        let waiter = state.withLock { state -> CheckedContinuation<String, Never>? in
            guard !state.waiters.isEmpty else { state.events.append(event); return nil }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: event)
    }

    static func invoke(_ requestID: String) -> String {
        #"{"eventType":"INVOKE","deadlineMs":\#(Int(Date().timeIntervalSince1970 * 1000) + 3000),"requestId":"\#(requestID)","invokedFunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:f","tracing":{}}"#
    }

    static let shutdown = #"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":0}"#

    func route(_ request: LoopbackHTTPServer.Request) async -> LoopbackHTTPServer.Reply {
        let uri = request.head.uri
        if request.head.method == .POST, uri == "/2020-01-01/extension/register" {
            let name = request.head.headers.first(name: "Lambda-Extension-Name") ?? ""
            let events = (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])?["events"] as? [String] ?? []
            guard !name.isEmpty, Set(events) == ["INVOKE", "SHUTDOWN"] else { return refuse("register: name '\(name)', events \(events)", 400) }
            let identifier = UUID().uuidString.lowercased()
            state.withLock { $0.registered.append(name); $0.identifier = identifier }
            return .respond(status: 200, headers: [("Lambda-Extension-Identifier", identifier), ("Content-Type", "application/json")],
                            body: Array(#"{"functionName":"f","functionVersion":"$LATEST","handler":"bootstrap"}"#.utf8))
        }
        if request.head.method == .GET, uri == "/2020-01-01/extension/event/next" {
            let identifier = state.withLock { $0.identifier }
            guard let identifier, request.head.headers.first(name: "Lambda-Extension-Identifier") == identifier else {
                return refuse("next without the registered identifier", 403)
            }
            let event = await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> String? in
                    state.nextCalls += 1
                    guard state.events.isEmpty else { return state.events.removeFirst() }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
            return .respond(status: 200, headers: [("Content-Type", "application/json"), ("Lambda-Extension-Event-Identifier", UUID().uuidString)], body: Array(event.utf8))
        }
        return refuse("\(request.head.method) \(uri)", 404)
    }

    private func refuse(_ why: String, _ status: Int) -> LoopbackHTTPServer.Reply {
        state.withLock { $0.refusals.append(why) }
        return .respond(status: status, headers: [], body: Array(why.utf8))
    }

    private final class Box: @unchecked Sendable { var emulator: ExtensionsEmulator? }
}
