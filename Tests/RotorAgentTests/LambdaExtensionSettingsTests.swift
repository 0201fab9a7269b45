import Testing
import RotorAgent
import RotorCore

/// The Parameters and Secrets extension's variables, as `rotor agent --lambda-extension` reads them.
@Suite struct LambdaExtensionSettingsTests {
    @Test func withoutVariablesTheExtensionsDefaultsApply() throws {
        let settings = try LambdaExtensionSettings.fromEnvironment([:])
        #expect(settings.agent.httpPort == 2773 && settings.agent.ttlSeconds == 300 && settings.agent.cacheSize == 1000)
        #expect(settings.agent.ssrfEnvironmentVariables == ["AWS_SESSION_TOKEN"] && settings.upstreamTimeout == nil && !settings.ttlClamped)
    }

    @Test(arguments: [
        (["SECRETS_MANAGER_TTL": "900"], 300, 1000, true),
        (["SECRETS_MANAGER_TTL": "60"], 60, 1000, false),
        (["SECRETS_MANAGER_TTL": "0"], 0, 0, false),
        (["PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"], 300, 0, false),
        (["PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE": "10"], 300, 10, false),
    ])
    func cacheVariables(env: [String: String], ttl: Int, size: Int, clamped: Bool) throws {
        let settings = try LambdaExtensionSettings.fromEnvironment(env)
        #expect(settings.agent.ttlSeconds == ttl && settings.agent.cacheSize == size && settings.ttlClamped == clamped)
    }

    @Test(arguments: [
        ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "70000"), ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "1001"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "yes"), ("SECRETS_MANAGER_TTL", "-1"),
        ("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", "0"), ("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "loud"),
        ("SECRETS_MANAGER_TIMEOUT_MILLIS", "soon"),
    ])
    func badValuesNameTheVariable(name: String, value: String) {
        let error = #expect(throws: RotorError.self) { try LambdaExtensionSettings.fromEnvironment([name: value]) }
        #expect(error?.summary.hasPrefix(name) == true)
    }
}
