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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
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
        // AWS Secrets Manager: SigV4, credentials, the JSON API client and the SecretStore over it.
        .target(
            name: "RotorAWS",
            dependencies: [
                "RotorCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The `rotor` command tree; only wires adapters together.
        .target(
            name: "RotorCLI",
            dependencies: [
                "RotorCore", "RotorStorage", "RotorRotators", "RotorAWS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "rotor", dependencies: ["RotorCLI"], swiftSettings: strict),
        .executableTarget(
            name: "rotor-bench",
            dependencies: ["RotorCore", "RotorStorage", "RotorRotators", "RotorAWS"],
            path: "bench/RotorBench",
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorCoreTests",
            dependencies: ["RotorCore", "RotorRotators", "RotorStorage"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorStorageTests",
            dependencies: [
                "RotorCore", "RotorStorage", "RotorRotators", "RotorAWS",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorAWSTests",
            dependencies: [
                "RotorAWS", "RotorCore", "RotorRotators", "RotorStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("SigV4Vectors")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RotorCLITests",
            dependencies: ["rotor", "RotorCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
    ]
)
