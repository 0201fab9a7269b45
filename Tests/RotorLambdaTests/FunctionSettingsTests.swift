import Foundation
import Testing
import RotorCore
import RotorLambda
import RotorPostgres

/// Anyone who may tag one secret cannot weaken how the function rotates it: the environment wins.
@Suite struct FunctionSettingsTests {
    static let registry = RotatorRegistry.withPostgres

    func secret(_ tags: [String: String]) throws -> SecretDescription {
        SecretDescription(id: try SecretID("/prod/orders/db-credentials/app"), createdAt: Date(), lastChangedAt: Date(), tags: tags, versions: [])
    }

    @Test func aTagCannotWeakenTLSUnlessTheFunctionAllowsIt() throws {
        let tags = ["rotor:rotator": "postgres-single-user", "rotor:option:tls": "disable"]
        let strict = try FunctionRotatorSettings(environment: ["ROTOR_TAG_OPTIONS": "tls,password-length"], rotators: Self.registry)
        #expect { _ = try strict.rotator(for: try secret(tags), rotators: Self.registry) } throws: { error in
            (error as? RotorError)?.code == .invalidOption && "\(error)".contains("tls=disable") && "\(error)".contains("ROTOR_ALLOW_WEAKER_TAG_OPTIONS")
        }
        let lenient = try FunctionRotatorSettings(environment: ["ROTOR_TAG_OPTIONS": "tls", "ROTOR_ALLOW_WEAKER_TAG_OPTIONS": "true"], rotators: Self.registry)
        _ = try lenient.rotator(for: try secret(tags), rotators: Self.registry)
        // Harmless tag options still apply.
        _ = try strict.rotator(for: try secret(["rotor:rotator": "postgres-single-user", "rotor:option:password-length": "40"]), rotators: Self.registry)
    }

    @Test func tagsSetOnlyTheOptionsTheFunctionListsAndNeverTheUser() throws {
        let settings = try FunctionRotatorSettings(environment: ["ROTOR_TAG_OPTIONS": "password-length,user"], rotators: Self.registry)
        for tag in ["rotor:option:exclude-characters", "rotor:option:ca-file", "rotor:option:user"] {
            #expect { _ = try settings.rotator(for: try secret(["rotor:rotator": "postgres-single-user", tag: "x"]), rotators: Self.registry) } throws: { error in
                (error as? RotorError)?.code == .invalidOption && "\(error)".contains("does not take from tags")
            }
        }
    }

    @Test func tagsNeverSayWhereValuesTokensOrTheAppsJWTGoNorWhichCognitoClient() {
        let listed = ["probe-url", "probe-header.x-api-key", "probe-ca-file", "base-url", "installation-id", "issuer", "private-key-secret", "login", "length",
                      "endpoint", "token-endpoint", "token-scope", "user-pool-id", "client-id"]
        let settings = FunctionRotatorSettings(tagOptions: Set(listed))
        #expect(settings.tagOptions == ["length"])
    }

    @Test func theEnvironmentsOptionsWinOverTags() throws {
        let settings = try FunctionRotatorSettings(environment: ["ROTOR_OPTION_TLS": "verify-full"], rotators: Self.registry)
        // The weakening tag is overridden by the environment, so nothing is weakened and nothing refused.
        _ = try settings.rotator(for: try secret(["rotor:rotator": "postgres-single-user", "rotor:option:tls": "disable"]), rotators: Self.registry)
        #expect(settings.options["tls"] == "verify-full")
    }

    @Test func aTagNamingAnotherRotatorThanThePinnedOneIsRefused() throws {
        let settings = try FunctionRotatorSettings(environment: ["ROTOR_ROTATOR": "postgres-alternating-users", "ROTOR_OPTION_USER": "app"], rotators: Self.registry)
        #expect { _ = try settings.rotator(for: try secret(["rotor:rotator": "random-password"]), rotators: Self.registry) } throws: { error in
            (error as? RotorError)?.code == .invalidRequest && "\(error)".contains("rotates postgres-alternating-users only")
        }
        #expect(try settings.rotator(for: try secret(["rotor:rotator": "postgres-alternating-users"]), rotators: Self.registry).kind == "postgres-alternating-users")
        #expect(try settings.rotator(for: try secret([:]), rotators: Self.registry).kind == "postgres-alternating-users")
    }

    @Test func aMisconfiguredPinnedRotatorFailsAtInit() {
        #expect(throws: RotorError.self) { try FunctionRotatorSettings(environment: ["ROTOR_ROTATOR": "postgres-single-user", "ROTOR_OPTION_TLS": "sometimes"], rotators: Self.registry) }
    }
}
