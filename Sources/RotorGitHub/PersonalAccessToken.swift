import Foundation
import RotorCore

/// The value of a `github-pat` secret: a JSON object with a `token` field (and `login` or `username`,
/// `permissions` as a list of classic scopes, `expiresAt`), or the bare token.
struct PATSecret {
    let object: [String: Any]?
    let token: String?

    init(_ value: SecretValue, secret: SecretID, step: RotationStep? = nil) throws(RotorError) {
        guard let text = value.exposedString else { throw Self.invalid(secret, step, "the value is binary") }
        if text.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw Self.invalid(secret, step, "the value starts like JSON but is not a JSON object")
            }
            self.object = object
            token = object["token"] as? String
        } else {
            object = nil
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    var login: String? { (object?["login"] as? String) ?? (object?["username"] as? String) }
    var permissions: [String] { (object?["permissions"] as? [String]) ?? [] }

    /// The value with the new token, its owner and its expiry (kept in the same shape as before).
    func with(token: String, login: String, expiresAt: Date?) -> SecretValue {
        guard var object else { return SecretValue(string: token) }
        object["token"] = token
        if object["username"] == nil { object["login"] = login }
        object["expiresAt"] = expiresAt.map { $0.formatted(.iso8601) }
        if expiresAt == nil { object.removeValue(forKey: "expiresAt") }
        return SecretValue(jsonObject: object)
    }

    static func invalid(_ secret: SecretID, _ step: RotationStep?, _ what: String) -> RotorError {
        RotorError(.invalidInput, "the github-pat secret's value is malformed: \(what)", secret: secret, step: step,
                   remedy: #"store {"token": "ghp_...", "login": "...", "permissions": ["repo"]} as JSON, or the bare token"#)
    }
}

/// The `expiresAt` (ISO 8601) a GitHub token secret records, which the planner's reminders and
/// maximum age follow.
enum GitHubTokenExpiry {
    static func of(_ value: SecretValue) -> Date? {
        guard let text = value.exposedString, text.hasPrefix("{"),
              let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let expiresAt = object["expiresAt"] as? String else { return nil }
        return try? Date(expiresAt, strategy: .iso8601)
    }
}

/// Facts about GitHub personal access tokens that need no network.
enum PersonalAccessToken {
    static let prefixes = ["ghp_", "github_pat_"]

    /// The token an operator supplied (bare, or in a JSON object's `token` field), checked for shape:
    /// a PAT prefix and GitHub's character set (GitHub asks integrators to accept up to 255 characters).
    static func parse(_ supplied: SecretValue, secret: SecretID) throws(RotorError) -> String {
        var text = (supplied.exposedString ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("{") { text = (try? PATSecret(supplied, secret: secret))?.token ?? "" }
        guard prefixes.contains(where: text.hasPrefix), text.count <= 255,
              text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw RotorError(.invalidInput, "what you supplied is not a GitHub personal access token (ghp_… or github_pat_…)", secret: secret,
                             step: .createSecret, remedy: "paste the token GitHub showed you once, and nothing else")
        }
        return text
    }

    /// Classic scopes that include others (`repo` includes `public_repo`, `admin:org` includes `read:org`).
    static let parents: [String: [String]] = [
        "repo:status": ["repo"], "repo_deployment": ["repo"], "public_repo": ["repo"], "repo:invite": ["repo"], "security_events": ["repo"],
        "write:org": ["admin:org"], "read:org": ["write:org", "admin:org"],
        "write:public_key": ["admin:public_key"], "read:public_key": ["write:public_key", "admin:public_key"],
        "write:repo_hook": ["admin:repo_hook"], "read:repo_hook": ["write:repo_hook", "admin:repo_hook"],
        "read:user": ["user"], "user:email": ["user"], "user:follow": ["user"],
        "read:packages": ["write:packages"], "read:discussion": ["write:discussion"],
        "write:gpg_key": ["admin:gpg_key"], "read:gpg_key": ["write:gpg_key", "admin:gpg_key"], "read:project": ["project"],
    ]

    static func scope(_ granted: [String], grants wanted: String) -> Bool {
        granted.contains(wanted) || (parents[wanted] ?? []).contains(where: granted.contains)
    }

    /// `GitHub-Authentication-Token-Expiration`: `2021-09-03 02:34:04 UTC`, also seen as `… +0200`.
    static func expiry(_ header: String) -> Date? {
        let parts = header.split(separator: " ")
        guard parts.count == 3 else { return nil }
        let day = parts[0].split(separator: "-").compactMap { Int($0) }
        let time = parts[1].split(separator: ":").compactMap { Int($0) }
        guard day.count == 3, time.count == 3 else { return nil }
        var offset = 0
        if parts[2] != "UTC" && parts[2] != "GMT" {
            let zone = parts[2]
            guard zone.count == 5, let sign = zone.first, sign == "+" || sign == "-", let hhmm = Int(zone.dropFirst()) else { return nil }
            offset = (sign == "-" ? -1 : 1) * ((hhmm / 100) * 3600 + (hhmm % 100) * 60)
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let components = DateComponents(year: day[0], month: day[1], day: day[2], hour: time[0], minute: time[1], second: time[2])
        return calendar.date(from: components)?.addingTimeInterval(TimeInterval(-offset))
    }
}

extension RotatorRegistry {
    /// The GitHub rotators: App installation tokens and assisted personal access tokens.
    public static let gitHubDescriptors: [RotatorDescriptor] = [GitHubAppTokenRotator.descriptor, GitHubPATRotator.descriptor]
}

