import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RotorAWS
import RotorCore

/// While the function waits for its first event, the Swift runtime's one-time work for the types a
/// step uses (metadata, the protocol look-ups behind casts) is done on another thread: the request
/// signing and JSON decoding of ``AWSWarmUp``, the event's parsing, and a whole rotation of a
/// made-up secret in an in-memory store with the built-in `random-password` rotator. Nothing leaves
/// the process; the function's own store, rotator and credentials are not touched.
enum LambdaWarmUp {
    /// Whether the made-up rotation went through all four steps (it always should; a test checks it).
    @discardableResult
    static func run(_ rotators: RotatorRegistry) async -> Bool {
        AWSWarmUp.warmUp()
        var request = HTTPClientRequest(url: "http://127.0.0.1/")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        request.body = .bytes(ByteBuffer(bytes: Array("{}".utf8)))
        guard let id = try? SecretID("/warm/up/api-key/secret"),
              let rotator = try? rotators.make("random-password", options: RotatorOptions([:])) else { return false }
        let store = InMemorySecretStore()
        let token = VersionID(UUID().uuidString.lowercased())
        let quiet = Logger(label: "rotor.warm-up") { _ in SwiftLogNoOpLogHandler() }
        let event = #"{"Step":"createSecret","SecretId":"\#(id)","ClientRequestToken":"\#(token)"}"#
        guard (try? RotationEvent(json: Array(event.utf8))) != nil,
              (try? await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "warm-up")))) != nil else { return false }
        let executor = StepExecutor(store: store, mode: .engine)
        var snapshot = SecretSnapshot()
        for step in RotationStep.allCases {
            let request = StepExecutor.Request(step: step, secret: id, token: token, rotator: rotator, logger: quiet, now: Date(), tokenIsFresh: step == .createSecret)
            guard let (_, learnt) = try? await executor.run(request, snapshot: snapshot) else { return false }
            snapshot = learnt
        }
        return (try? await store.describeSecret(id).holder(of: .current)) == token
    }
}
