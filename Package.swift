// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "rotor",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rotor", targets: ["rotor"]),
        .library(name: "RotorCore", targets: ["RotorCore"]),
        // The adapters, as libraries for the benchmark package in bench/ (built by `make bench` only).
        .library(name: "RotorStorage", targets: ["RotorStorage"]),
        .library(name: "RotorRotators", targets: ["RotorRotators"]),
        .library(name: "RotorAWS", targets: ["RotorAWS"]),
        .library(name: "RotorPolicies", targets: ["RotorPolicies"]),
        .library(name: "RotorDaemon", targets: ["RotorDaemon"]),
        .library(name: "RotorHTTP", targets: ["RotorHTTP"]),
        .library(name: "RotorGitHub", targets: ["RotorGitHub"]),
        .library(name: "RotorCognito", targets: ["RotorCognito"]),
        // The consumer side: a cache of secret values for services (and rotor's agent).
        .library(name: "RotorSecrets", targets: ["RotorSecrets"]),
        .library(name: "RotorAgent", targets: ["RotorAgent"]),
        .library(name: "RotorPostgres", targets: ["RotorPostgres"]),
        .library(name: "RotorStatePostgres", targets: ["RotorStatePostgres"]),
        .executable(name: "bootstrap", targets: ["bootstrap"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
    ],
    targets: [
        // Domain types, protocols and the rotation engine. No I/O.
        .target(
            name: "RotorCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // SQLite adapters: the state database and the embedded encrypted secret store.
        .target(
            name: "RotorStorage",
            dependencies: [
                "RotorCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The C API, for the one SQL function that runs per row of a full reconcile pass.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Built-in rotators: random-password, encryption-key, manual.
        .target(
            name: "RotorRotators",
            dependencies: ["RotorCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Exec plug-in rotators (protocol rotor.rotator/v1): discovery, describe, one process per step.
        .target(
            name: "RotorPlugins",
            dependencies: [
                "RotorCore", "RotorHTTP", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Outbound HTTPS for credentials (verified TLS, loopback-only plain HTTP, no redirects) and the testSecret probe.
        .target(
            name: "RotorHTTP",
            dependencies: [
                "RotorCore", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // GitHub rotators: App installation tokens (RS256 app JWT) and assisted personal access tokens.
        .target(
            name: "RotorGitHub",
            dependencies: [
                "RotorCore", "RotorHTTP", .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Cognito app-client secrets (two valid at once) through RotorAWS's JSON client.
        .target(name: "RotorCognito", dependencies: ["RotorCore", "RotorAWS", "RotorHTTP", .product(name: "NIOHTTP1", package: "swift-nio")], swiftSettings: strict),
        // How services read secrets: a cache with AWS's agent's semantics, single flight, maximum staleness.
        .target(
            name: "RotorSecrets",
            dependencies: [
                "RotorCore", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // `rotor agent`: AWS's Secrets Manager Agent's HTTP API and TOML configuration over RotorSecrets' cache.
        .target(
            name: "RotorAgent",
            dependencies: [
                "RotorCore", "RotorSecrets", "RotorHTTP", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "TOMLKit", package: "TOMLKit"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // AWS Secrets Manager: SigV4, credentials, the JSON API client and the SecretStore over it.
        .target(
            name: "RotorAWS",
            dependencies: [
                "RotorCore", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // PostgreSQL credential rotators: single user and alternating users.
        .target(
            name: "RotorPostgres",
            dependencies: [
                "RotorCore", "RotorRotators",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // rotor's own state in PostgreSQL (`--state postgres://…`), for several hosts sharing one state.
        .target(
            name: "RotorStatePostgres",
            dependencies: [
                "RotorCore", "RotorStorage", "RotorPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // rotor as an AWS Lambda rotation function (the Runtime API loop); no SQLite.
        .target(
            name: "RotorLambda",
            dependencies: [
                "RotorCore", "RotorAWS", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "bootstrap", dependencies: ["RotorCore", "RotorLambda", "RotorPostgres", "RotorPlugins", "RotorHTTP", "RotorGitHub", "RotorCognito"], swiftSettings: strict,
            // Export no symbols: nothing loads the function's binary as a library, and a dynamic symbol
            // table of every symbol (40k) is what the loader's look-ups and dladdr scan at each cold start.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic", "-Xlinker", "-no-pie"], .when(platforms: [.linux]))]),
        // Rotation policies from YAML files in schedules/.
        .target(
            name: "RotorPolicies",
            dependencies: ["RotorCore", "RotorHTTP", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // The daemon: scheduler, lease, alert outbox, HTTP observability API and metrics.
        .target(
            name: "RotorDaemon",
            dependencies: [
                "RotorCore", "RotorPolicies", "RotorStorage", "RotorPlugins", "RotorHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The `rotor` command tree; only wires adapters together.
        .target(
            name: "RotorCLI",
            dependencies: [
                "RotorPlugins", "RotorHTTP", "RotorGitHub", "RotorCognito",
                "RotorCore", "RotorStorage", "RotorRotators", "RotorAWS", "RotorPolicies", "RotorDaemon", "RotorPostgres", "RotorStatePostgres",
                "RotorSecrets", "RotorAgent", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The crash tests' kill switch (ROTOR_FAULT_KILL_AT) exists in debug builds only.
            swiftSettings: strict + [.define("ROTOR_FAULT_INJECTION", .when(configuration: .debug))]
        ),
        .executableTarget(name: "rotor", dependencies: ["RotorCLI", "RotorPlugins"], swiftSettings: strict),
        .testTarget(
            name: "RotorCoreTests",
            dependencies: ["RotorCore", "RotorRotators", "RotorStorage"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorPluginsTests",
            dependencies: [
                "RotorCore", "RotorPlugins", "RotorRotators", "RotorTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorGitHubTests",
            dependencies: [
                "RotorCore", "RotorHTTP", "RotorGitHub", "RotorRotators", "RotorTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorSecretsTests",
            dependencies: [
                "RotorCore", "RotorSecrets", "RotorTestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RotorAgentTests",
            dependencies: [
                "RotorCore", "RotorSecrets", "RotorAgent", "RotorTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorCognitoTests",
            dependencies: [
                "RotorCore", "RotorAWS", "RotorHTTP", "RotorCognito", "RotorTestSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorStorageTests",
            dependencies: [
                "RotorCore", "RotorStorage", "RotorRotators", "RotorAWS", "RotorTestSupport", "RotorStatePostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The tests' shared kit: the test clock, child processes, moto settings, loopback HTTP servers
        // (a fault-injecting proxy, webhook receivers, endpoints).
        .target(
            name: "RotorTestSupport",
            dependencies: [
                "RotorCore", "RotorAWS",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/RotorTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorAWSTests",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                "rotor", "RotorAWS", "RotorCore", "RotorRotators", "RotorStorage", "RotorTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("SigV4Vectors")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorDaemonTests",
            dependencies: [
                "RotorCore", "RotorPolicies", "RotorDaemon", "RotorStorage", "RotorRotators", "RotorTestSupport",
                "RotorPostgres", "RotorGitHub", "RotorCognito", "RotorHTTP", "RotorPlugins",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorStatePostgresTests",
            dependencies: [
                "RotorStatePostgres", "RotorCore", "RotorStorage", "RotorRotators", "RotorTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorPostgresTests",
            dependencies: [
                "rotor", "RotorPostgres", "RotorStatePostgres", "RotorCore", "RotorStorage", "RotorAWS", "RotorRotators", "RotorTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The hostile server the tests start (python3), read from the source tree.
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorLambdaTests",
            dependencies: [
                "bootstrap", "RotorLambda", "RotorAWS", "RotorCore", "RotorTestSupport", "RotorPostgres", "RotorPolicies", "RotorRotators",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorCLITests",
            dependencies: [
                "rotor", "RotorCore", "RotorAWS", "RotorTestSupport", "RotorStatePostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"), .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
    ]
)
