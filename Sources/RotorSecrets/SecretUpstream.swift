import RotorCore

/// Where a cache's values come from: a secret store (Secrets Manager, the embedded store) or a
/// local agent. `fetch` reads the version a key names; `stillAnswers` checks cheaply whether a cached
/// version still answers the key (DescribeSecret). An upstream without a cheap check has no
/// `checkAPI`: an expired entry is then fetched again.
public protocol SecretUpstream: Sendable {
    /// The API name `fetch` and `stillAnswers` are counted under.
    var fetchAPI: String { get }
    var checkAPI: String? { get }
    func fetch(_ key: SecretCache.Key) async throws -> SecretVersionValue
    func stillAnswers(_ key: SecretCache.Key, cached: SecretVersionValue) async throws -> Bool
}

/// A ``SecretStore`` as an upstream: GetSecretValue, and DescribeSecret as the version check.
public struct StoreUpstream: SecretUpstream {
    let store: any SecretStore

    public init(_ store: any SecretStore) { self.store = store }

    public var fetchAPI: String { "GetSecretValue" }
    public var checkAPI: String? { "DescribeSecret" }

    public func fetch(_ key: SecretCache.Key) async throws -> SecretVersionValue {
        let id = try await store.resolve(nameOrARN: key.secretID)
        return try await store.getSecretValue(id, key.selector)
    }

    /// For a version id alone, that it still exists; otherwise that it (or the requested one) holds
    /// the requested label (AWSCURRENT by default).
    public func stillAnswers(_ key: SecretCache.Key, cached: SecretVersionValue) async throws -> Bool {
        let stages = try await store.describeSecret(cached.secret).versionIDsToStages
        if let version = key.versionID, key.stage == nil { return stages[version] != nil }
        return stages[key.versionID ?? cached.versionID]?.contains(key.stage ?? .current) == true
    }
}
