import Foundation
import NIOHTTP1
import RotorTestSupport
import Synchronization

/// A Lambda Runtime API emulator on loopback: queues invocations, hands them to the function's
/// `next` long-poll, and records responses, errors and init errors.
final class RuntimeEmulator: Sendable {
    enum Result: Sendable, Equatable {
        case response(String)
        case error(type: String, message: String)
        var isSuccess: Bool { if case .response = self { true } else { false } }
    }

    private let state = Mutex<(queue: [(String, String)], waiters: [CheckedContinuation<(String, String), Never>],
                               results: [String: CheckedContinuation<Result, Never>], initErrors: [String])>(([], [], [:], []))
    private let server: LoopbackHTTPServer
    var address: String { "127.0.0.1:\(server.port)" }

    init() async throws {
        let box = EmulatorBox()
        server = try await LoopbackHTTPServer { request in await box.emulator!.route(request) }
        box.emulator = self
    }

    func close() async throws { try await server.close() }

    /// Sends one invocation and waits for the function's answer (an error result after `timeout`).
    func invoke(_ payload: String, timeout: Duration = .seconds(30)) async -> Result {
        let once = Mutex(false)
        return await withCheckedContinuation { (outer: CheckedContinuation<Result, Never>) in
            let finish: @Sendable (Result) -> Void = { result in
                if once.withLock({ done in defer { done = true }; return !done }) { outer.resume(returning: result) }
            }
            Task { finish(await self.send(payload)) }
            Task {
                try? await Task.sleep(for: timeout)
                finish(.error(type: "Test.Timeout", message: "no answer within \(timeout)"))
            }
        }
    }

    private func send(_ payload: String) async -> Result {
        let id = UUID().uuidString.lowercased()
        return await withCheckedContinuation { continuation in
            let waiter = state.withLock { state -> CheckedContinuation<(String, String), Never>? in
                state.results[id] = continuation
                guard !state.waiters.isEmpty else { state.queue.append((id, payload)); return nil }
                return state.waiters.removeFirst()
            }
            waiter?.resume(returning: (id, payload))
        }
    }

    var initErrors: [String] { state.withLock { $0.initErrors } }

    func route(_ request: LoopbackHTTPServer.Request) async -> LoopbackHTTPServer.Reply {
        let path = request.head.uri
        if request.head.method == .GET, path.hasSuffix("/runtime/invocation/next") {
            let (id, payload) = await nextInvocation()
            let deadline = Int64((Date().timeIntervalSince1970 + 60) * 1000)
            return .respond(status: 200, headers: [
                ("Lambda-Runtime-Aws-Request-Id", id), ("Lambda-Runtime-Deadline-Ms", "\(deadline)"),
                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:rotor"),
            ], body: Array(payload.utf8))
        }
        let body = String(decoding: request.body, as: UTF8.self)
        if path.hasSuffix("/runtime/init/error") {
            state.withLock { $0.initErrors.append(body) }
            return .respond(status: 202, headers: [], body: [])
        }
        let parts = path.split(separator: "/")
        guard parts.count >= 5, parts[parts.count - 3] == "invocation" else { return .respond(status: 404, headers: [], body: []) }
        let id = String(parts[parts.count - 2])
        let result: Result
        if parts.last == "response" {
            result = .response(body)
        } else {
            let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: String] ?? [:]
            result = .error(type: object["errorType"] ?? "?", message: object["errorMessage"] ?? "")
        }
        let continuation = state.withLock { $0.results.removeValue(forKey: id) }
        continuation?.resume(returning: result)
        return .respond(status: 202, headers: [], body: [])
    }

    private func nextInvocation() async -> (String, String) {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> (String, String)? in
                guard !state.queue.isEmpty else { state.waiters.append(continuation); return nil }
                return state.queue.removeFirst()
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

final class EmulatorBox: @unchecked Sendable {
    var emulator: RuntimeEmulator?
}
