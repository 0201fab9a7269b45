import Foundation
import RotorCore

/// What createSecret deletes at Cognito before it adds, decided on what Cognito lists:
/// - the secret only `AWSPREVIOUS` names, if Cognito made it before the current one and the current
///   one has existed for the grace period;
/// - secrets Cognito made while an earlier attempt of this createSecret ran (their value was lost
///   with the attempt, so no consumer holds it);
/// - never the current secret, and never one rotor cannot account for: with no room left, that is
///   an error that says what to do.
struct CleanUp {
    let currentID: String
    let stale: [CognitoAPI.ListedSecret]

    init(listed: [CognitoAPI.ListedSecret], current: CognitoClientSecret, previousID: String?, grace: TimeInterval, context: RotationContext) throws {
        let secret = context.secret
        guard let currentID = current.clientSecretID ?? (listed.count == 1 ? listed[0].id : nil) else {
            throw RotorError(.invalidInput, "app client \(current.clientID) has \(listed.count) secrets and the current value does not say which is its own",
                             secret: secret, step: .createSecret,
                             remedy: "add the current secret's clientSecretId to the value (aws cognito-idp list-user-pool-client-secrets shows the ids)")
        }
        guard let currentEntry = listed.first(where: { $0.id == currentID }) else {
            throw RotorError(.invalidRequest, "Cognito does not list the current secret \(currentID) of app client \(current.clientID); rotor deletes and adds nothing",
                             secret: secret, step: .createSecret,
                             remedy: "check the value's clientSecretId against 'aws cognito-idp list-user-pool-client-secrets'; restore the value that consumers use")
        }
        var stale: [CognitoAPI.ListedSecret] = []
        for entry in listed where entry.id != currentID {
            if entry.id == previousID {
                try Self.checkPrevious(entry, current: currentEntry, grace: grace, context: context)
                stale.append(entry)
            } else if Self.madeByAnEarlierAttempt(entry, context: context) {
                stale.append(entry)
            }
        }
        if listed.count - stale.count >= 2, let unknown = listed.first(where: { $0.id != currentID && !stale.contains($0) }) {
            throw RotorError(.invalidRequest, "app client \(current.clientID) has a secret rotor does not know (\(unknown.id)) besides the current one, and Cognito allows two",
                             secret: secret, step: .createSecret, remedy:
                                "if no consumer uses \(unknown.id), delete it (aws cognito-idp delete-user-pool-client-secret --user-pool-id \(current.userPoolID) --client-id \(current.clientID) --client-secret-id \(unknown.id)) and rotate again")
        }
        self.currentID = currentID
        self.stale = stale
    }

    /// The previous secret goes only when it is older than the current one (labels pointing the other
    /// way were edited) and the current one has been out for the grace period.
    static func checkPrevious(_ previous: CognitoAPI.ListedSecret, current: CognitoAPI.ListedSecret, grace: TimeInterval, context: RotationContext) throws {
        guard let made = previous.created, let currentMade = current.created, made < currentMade else {
            throw RotorError(.invalidRequest, "AWSPREVIOUS names secret \(previous.id), which Cognito did not make before the current one \(current.id); rotor deletes nothing",
                             secret: context.secret, step: .createSecret, remedy: "the labels were changed outside rotor: check the versions (rotor secret describe) and restore them")
        }
        let ready = currentMade.addingTimeInterval(grace)
        guard context.now >= ready else {
            throw RotorError(.invalidRequest, "the current secret \(current.id) is younger than previous-grace (\(Int(grace)) s); consumers may still use \(previous.id)",
                             secret: context.secret, step: .createSecret,
                             remedy: "rotate again after \(ready.formatted(.iso8601)), or lower the option previous-grace (0 deletes at once, e.g. after a leak)")
        }
    }

    /// Whether Cognito made `entry` while an earlier attempt of this step ran (a minute of clock
    /// difference allowed after the attempt's end, none before its start).
    static func madeByAnEarlierAttempt(_ entry: CognitoAPI.ListedSecret, context: RotationContext) -> Bool {
        guard let created = entry.created else { return false }
        return context.earlierAttempts.contains { created >= $0.start && created <= $0.end.addingTimeInterval(60) }
    }
}
