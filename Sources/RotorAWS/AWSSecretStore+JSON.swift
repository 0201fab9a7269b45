import Foundation
import RotorCore

/// JSON ⇄ domain conversions for Secrets Manager shapes. Absent and `null` fields are tolerated.
extension AWSSecretStore {
    static func addValue(_ value: SecretValue, to body: inout [String: Any]) {
        switch value.kind {
        case .string: body["SecretString"] = value.exposedString ?? ""
        case .binary: body["SecretBinary"] = Data(value.exposedBytes).base64EncodedString()
        }
    }

    static func value(_ object: [String: Any]) -> SecretValue? {
        if let text = object["SecretString"] as? String { return SecretValue(string: text) }
        if let base64 = object["SecretBinary"] as? String, let data = Data(base64Encoded: base64) { return SecretValue(bytes: Array(data)) }
        return nil
    }

    /// Epoch seconds (integer or fractional); `nil` for absent or `null`.
    static func date(_ raw: Any?) -> Date? {
        (raw as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
    }

    /// A DescribeSecret response or a ListSecrets entry (which calls the map `SecretVersionsToStages`).
    /// DescribeSecret lists labelled versions only and gives no version dates: the secret's creation
    /// date stands in for them.
    static func description(_ object: [String: Any], id: SecretID) -> SecretDescription {
        let created = date(object["CreatedDate"]) ?? Date(timeIntervalSince1970: 0)
        let map = (object["VersionIdsToStages"] ?? object["SecretVersionsToStages"]) as? [String: [String]] ?? [:]
        let versions = map.keys.sorted().map { key in
            VersionEntry(id: VersionID(key), createdAt: created, stages: Set(map[key]!.map(StagingLabel.init(stringLiteral:))))
        }
        let tags = (object["Tags"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { tags, tag in
            if let key = tag["Key"] as? String { tags[key] = tag["Value"] as? String ?? "" }
        }
        return SecretDescription(
            id: id, description: object["Description"] as? String, createdAt: created,
            lastChangedAt: date(object["LastChangedDate"]) ?? created, lastRotatedAt: date(object["LastRotatedDate"]),
            tags: tags, versions: versions, rotationEnabled: object["RotationEnabled"] as? Bool)
    }
}
