import Foundation

/// One `Allow` statement of an IAM identity policy, limited to the regions rotor was told about.
public struct IAMStatement: Sendable, Hashable {
    public var sid: String
    public var actions: [String]
    /// ARNs or ARN patterns; `*` only for actions that support no resource-level permission.
    public var resources: [String]
    /// The `aws:RequestedRegion` values of the statement's condition (none: no condition).
    public var regions: [String]

    public init(sid: String, actions: [String], resources: [String], regions: [String]) {
        self.sid = sid
        self.actions = actions
        self.resources = resources
        self.regions = regions
    }
}

/// A generated identity policy: the document, and what a reader must know about it.
public struct IAMPolicyDocument: Sendable, Hashable {
    public enum Role: String, Sendable, CaseIterable {
        case daemon, lambda, consumer
    }

    /// A name fit for `ManagedPolicyName` (e.g. `rotor-daemon-prod`).
    public var name: String
    public var role: Role
    public var environment: String
    /// The consuming service (``Role/consumer`` only).
    public var service: String?
    public var statements: [IAMStatement]
    /// Why a wildcard or a missing grant is there, one sentence each.
    public var notes: [String]

    /// The policy document as IAM takes it (pretty-printed, keys sorted).
    public var json: String { Self.text(object) }

    /// A JSON value as pretty-printed text with sorted keys, slashes unescaped.
    public static func text(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The document as a JSON value (for bundles and templates).
    public var object: [String: Any] {
        ["Version": "2012-10-17", "Statement": statements.map(Self.object)]
    }

    /// The document with its name, role, environment, service and notes: one entry of ``bundle(_:)``.
    public var entry: [String: Any] {
        var entry: [String: Any] = ["name": name, "role": role.rawValue, "environment": environment, "notes": notes, "document": object]
        if let service { entry["service"] = service }
        return entry
    }

    /// `{"policies": [entry, …]}`: what `rotor iam policy --format json` prints.
    public static func bundle(_ documents: [IAMPolicyDocument]) -> [String: Any] { ["policies": documents.map(\.entry)] }

    static func object(_ statement: IAMStatement) -> [String: Any] {
        var object: [String: Any] = [
            "Sid": statement.sid, "Effect": "Allow", "Action": statement.actions,
            "Resource": statement.resources.count == 1 ? statement.resources[0] as Any : statement.resources,
        ]
        if !statement.regions.isEmpty { object["Condition"] = ["StringEquals": ["aws:RequestedRegion": statement.regions]] }
        return object
    }
}
