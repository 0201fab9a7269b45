import Foundation
import Logging
import Synchronization
import Testing
import RotorCore
@testable import RotorLambda
import RotorRotators

/// The function's loop and step handling, in-process: an in-memory Runtime API feeding Secrets
/// Manager's four invocations to the function over the in-memory store (fast; the end-to-end runs
/// against moto and the real binary are in LambdaTests).
@Suite struct InProcessFunctionTests {
    /// Invocations queued by the test; answers recorded.
    final class QueueRuntime: LambdaRuntime, @unchecked Sendable {
        private let state = Mutex<(queue: [Invocation], answers: [(String, String)])>(([], []))
        func enqueue(_ json: String) -> String {
            let id = UUID().uuidString
            state.withLock { $0.queue.append(Invocation(requestID: id, deadline: Date().addingTimeInterval(30), functionARN: nil, payload: Array(json.utf8))) }
            return id
        }
        var answers: [(String, String)] { state.withLock { $0.answers } }
        func next() async throws -> Invocation {
            guard let first = state.withLock({ $0.queue.isEmpty ? nil : $0.queue.removeFirst() }) else { throw CancellationError() }
            return first
        }
        func respond(_ requestID: String, json: String) async throws { state.withLock { $0.answers.append((requestID, "ok")) } }
        func fail(_ requestID: String, type: String, message: String) async throws { state.withLock { $0.answers.append((requestID, "\(type): \(message)")) } }
        func initFailed(type: String, message: String) async throws {}
    }

    let id = try! SecretID("/prod/shop/api-key/vendor")

    func function(_ store: InMemorySecretStore, _ runtime: QueueRuntime) throws -> LambdaFunction {
        let handler = StepHandler(store: store, rotators: .builtIn, settings: FunctionRotatorSettings(kind: "random-password"))
        return LambdaFunction(runtime: runtime, handler: handler, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    }

    static func event(_ step: RotationStep, _ secret: SecretID, _ token: VersionID) -> String {
        #"{"Step":"\#(step.rawValue)","SecretId":"\#(secret.rawValue)","ClientRequestToken":"\#(token.rawValue)"}"#
    }

    @Test func fourInvocationsRotateTheSecretAndARepeatIsHarmless() async throws {
        let store = InMemorySecretStore()
        _ = try await store.createSecret(CreateSecretInput(id: id, initialValue: SecretValue(string: "v0")))
        let old = try await store.describeSecret(id).holder(of: .current)
        let runtime = QueueRuntime()
        let function = try function(store, runtime)
        // What RotateSecret does before it invokes the function: the token's AWSPENDING version.
        let token = VersionID(UUID().uuidString.lowercased())
        var generator = SystemRandomNumberGenerator()
        try await store.putSecretValue(PutSecretValueInput(id: id, token: token, value: try PasswordPolicy().generate(using: &generator), stages: [.pending]))
        for step in RotationStep.allCases + [.finishSecret] {
            _ = runtime.enqueue(Self.event(step, id, token))
            await function.serveOne()
        }
        #expect(runtime.answers.map(\.1) == Array(repeating: "ok", count: 5), "\(runtime.answers)")
        let labels = try await store.describeSecret(id).versionIDsToStages
        #expect(labels[token]?.contains(.current) == true && old.flatMap { labels[$0] } == [.previous])
    }

    @Test func aBadEventIsAnErrorAnswerAndTheLoopGoesOn() async throws {
        let store = InMemorySecretStore()
        let runtime = QueueRuntime()
        let function = try function(store, runtime)
        let bad = runtime.enqueue(#"{"Step":"deleteEverything","SecretId":"x","ClientRequestToken":"y"}"#)
        await function.serveOne()
        await function.serveOne() // nothing queued: the fetch fails and the loop carries on
        #expect(runtime.answers.count == 1 && runtime.answers[0].0 == bad && runtime.answers[0].1.contains("Invalid step parameter"))
    }

    @Test func theColdStartWarmUpRotatesAMadeUpSecretInMemoryOnly() async {
        #expect(await LambdaWarmUp.run(.builtIn))
    }

    /// A rotator chosen by the secret's tag that makes values without a target is refused for a
    /// database login, and the value stays; the function's own ROTOR_ROTATOR is not second-guessed.
    @Test func aTagCannotTurnADatabaseLoginIntoARandomString() async throws {
        let store = InMemorySecretStore()
        let login = try SecretID("/prod/shop/db-credentials/app")
        let value = SecretValue(string: #"{"engine":"postgres","host":"db","username":"app","password":"canary-pw"}"#)
        _ = try await store.createSecret(CreateSecretInput(id: login, tags: ["rotor:rotator": "random-password"], initialValue: value))
        let token = VersionID(UUID().uuidString.lowercased())
        try await store.putSecretValue(PutSecretValueInput(id: login, token: token, value: SecretValue(string: "placeholder"), stages: [.pending]))
        let retagging = RetaggingStore(base: store)
        let handler = StepHandler(store: retagging, rotators: .builtIn, settings: FunctionRotatorSettings())
        let event = RotationEvent(step: .createSecret, secret: login, token: token, rotationToken: nil)
        await #expect { _ = try await handler.handle(event, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) } throws: { error in
            (error as? RotorError)?.code == .invalidOption && "\(error)".contains("database secret JSON") && !"\(error)".contains("canary-pw")
        }
        #expect(try await store.getSecretValue(login, .pending(token)).value == SecretValue(string: "placeholder"))

        // The tag changed between two steps (after a rotator with a target made the new value): the
        // later steps are refused too, so AWSCURRENT never moves to a value the database does not know.
        retagging.tags.withLock { $0 = ["rotor:rotator": "manual"] }
        for step in [RotationStep.setSecret, .testSecret, .finishSecret] {
            let later = RotationEvent(step: step, secret: login, token: token, rotationToken: nil)
            await #expect(throws: RotorError.self) { _ = try await handler.handle(later, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) }
        }
        #expect(try await store.getSecretValue(login, .current).value == value)
    }
}

/// A store whose DescribeSecret answers with other tags (someone re-tagged the secret between steps).
final class RetaggingStore: ForwardingSecretStore, Sendable {
    let base: any SecretStore
    let tags = Mutex<[String: String]?>(nil)
    init(base: any SecretStore) { self.base = base }
    func describeSecret(_ id: SecretID) async throws -> SecretDescription {
        var description = try await base.describeSecret(id)
        if let tags = tags.withLock({ $0 }) { description.tags = tags }
        return description
    }
}

