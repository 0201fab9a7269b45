// swift-tools-version:6.2
// rotor's benchmarks, a package of their own so that `make test` never builds them (`make bench` does).
import PackageDescription

let package = Package(
    name: "rotor-bench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "rotor", path: ".."),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
    ],
    targets: [
        .executableTarget(
            name: "rotor-bench",
            dependencies: [
                .product(name: "RotorCore", package: "rotor"),
                .product(name: "RotorStorage", package: "rotor"),
                .product(name: "RotorRotators", package: "rotor"),
                .product(name: "RotorAWS", package: "rotor"),
                .product(name: "RotorPolicies", package: "rotor"),
                .product(name: "RotorDaemon", package: "rotor"),
                .product(name: "RotorPostgres", package: "rotor"),
                .product(name: "RotorStatePostgres", package: "rotor"),
                .product(name: "RotorHTTP", package: "rotor"),
                .product(name: "RotorGitHub", package: "rotor"),
                .product(name: "RotorCognito", package: "rotor"),
                .product(name: "RotorSecrets", package: "rotor"),
                .product(name: "RotorAgent", package: "rotor"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "RotorBench",
            swiftSettings: [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny")]
        ),
    ]
)
