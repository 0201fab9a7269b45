import Foundation
import Logging
import Testing
@testable import RotorCognito
import RotorCore

/// What createSecret deletes at Cognito before it adds, as a table of what Cognito lists.
@Suite struct CleanUpTests {
    static let client = "c1"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let attempt = DateInterval(start: now.addingTimeInterval(-600), duration: 48)

    static func listed(_ id: String, _ ago: TimeInterval) -> CognitoAPI.ListedSecret {
        CognitoAPI.ListedSecret(id: "\(client)--\(id)", created: now.addingTimeInterval(-ago))
    }

    static func current(id: String?) -> CognitoClientSecret {
        var object = ["userPoolId": "eu-west-1_AbC123", "clientId": client, "clientSecret": "s"]
        object["clientSecretId"] = id.map { "\(client)--\($0)" }
        let text = String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        return try! CognitoClientSecret(SecretValue(string: text), secret: try! SecretID("/prod/cognito/app-client/secret"))
    }

    enum Expect: Equatable { case deletes([String]), refuses(String) }

    static let cases: [(String, [CognitoAPI.ListedSecret], String?, String?, TimeInterval, Expect)] = [
        ("previous, older, after the grace", [listed("cur", 7200), listed("prev", 90 * 86_400)], "cur", "prev", 3600, .deletes(["prev"])),
        ("room left, nothing to delete", [listed("cur", 7200)], "cur", "prev", 3600, .deletes([])),
        ("previous younger than current: labels edited", [listed("cur", 7200), listed("prev", 60)], "cur", "prev", 0, .refuses("did not make before")),
        ("current inside the grace", [listed("cur", 60), listed("prev", 7200)], "cur", "prev", 3600, .refuses("younger than previous-grace")),
        ("a person's secret from before the attempts", [listed("cur", 7200), listed("person", 3600)], "cur", nil, 0, .refuses("rotor does not know")),
        ("made during an earlier attempt", [listed("cur", 7200), listed("orphan", 590)], "cur", nil, 0, .deletes(["orphan"])),
        ("made well after the attempt ended", [listed("cur", 7200), listed("person", 300)], "cur", nil, 0, .refuses("rotor does not know")),
        ("current not listed", [listed("other", 7200)], "cur", nil, 0, .refuses("does not list the current secret")),
        ("value without id, one listed", [listed("only", 7200)], nil, nil, 0, .deletes([])),
        ("value without id, two listed", [listed("a", 7200), listed("b", 3600)], nil, nil, 0, .refuses("does not say which is its own")),
    ]

    @Test(arguments: cases)
    func decides(name: String, listed: [CognitoAPI.ListedSecret], currentID: String?, previousID: String?, grace: TimeInterval, expected: Expect) {
        let context = RotationContext(secret: try! SecretID("/prod/cognito/app-client/secret"), token: "t", store: InMemorySecretStore(),
                                      logger: Logger(label: "t"), now: Self.now, earlierAttempts: [Self.attempt])
        do {
            let plan = try CleanUp(listed: listed, current: Self.current(id: currentID), previousID: previousID.map { "\(Self.client)--\($0)" },
                                   grace: grace, context: context)
            #expect(Expect.deletes(plan.stale.map { String($0.id.dropFirst(Self.client.count + 2)) }) == expected, "\(name)")
        } catch {
            guard case .refuses(let text) = expected else { Issue.record("\(name): \(error)"); return }
            #expect("\(error)".contains(text), "\(name): \(error)")
        }
    }
}
