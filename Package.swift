// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sourced",
    products: [
        .library(name: "SourcedEngine", targets: ["SourcedEngine"]),
        .library(name: "SourcedCore", targets: ["SourcedCore"]),
        .library(name: "SourcedStorage", targets: ["SourcedStorage"]),
        .library(name: "SourcedWire", targets: ["SourcedWire"]),
        .library(name: "SourcedJSON", targets: ["SourcedJSON"]),
        .library(name: "SourcedPostgres", targets: ["SourcedPostgres"]),
        .executable(name: "sourced", targets: ["sourced"]),
        .executable(name: "sourcectl", targets: ["sourcectl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .target(name: "SourcedBuildInfo", plugins: ["BuildInfoPlugin"]),
        .target(name: "SourcedJSON"),
        .target(name: "SourcedCore", dependencies: ["SourcedJSON"]),
        .target(
            name: "SourcedStorage",
            dependencies: [
                "CLinux",
                "SourcedCore",
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SourcedEngine",
            dependencies: [
                "SourcedCore",
                "SourcedJSON",
                "SourcedPostgres",
                "SourcedStorage",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SourcedWire",
            dependencies: ["SourcedCore", "SourcedJSON", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(name: "CLinux"),
        .target(
            name: "SourcedPostgres",
            dependencies: [
                "SourcedCore",
                "SourcedStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(name: "SourcedProjections", dependencies: ["SourcedCore", "SourcedEngine", "SourcedJSON", "SourcedStorage"]),
        .target(
            name: "SourcedServer",
            dependencies: [
                "CLinux",
                "SourcedBuildInfo",
                "SourcedCore",
                "SourcedEngine",
                "SourcedJSON",
                "SourcedProjections",
                "SourcedStorage",
                "SourcedWire",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CEdit", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .target(name: "SourcedLua", dependencies: ["CLua", "SourcedCore", "SourcedJSON"]),
        .target(
            name: "SourcedSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "sourced",
            dependencies: [
                "CLinux",
                "SourcedBuildInfo",
                "SourcedCore",
                "SourcedStorage",
                "SourcedEngine",
                "SourcedLua",
                "SourcedPostgres",
                "SourcedProjections",
                "SourcedServer",
                "SourcedSystemd",
                "SourcedWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "SourcedClient",
            dependencies: [
                "SourcedJSON",
                "SourcedWire",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ]
        ),
        .executableTarget(
            name: "sourcectl",
            dependencies: [
                "CEdit",
                "CLinux",
                "SourcedBuildInfo",
                "SourcedClient",
                "SourcedJSON",
                "SourcedWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(name: "SourcedTestSupport", dependencies: ["CLinux", "SourcedCore"], path: "Tests/SourcedTestSupport"),
        .testTarget(name: "SourcedCoreTests", dependencies: ["SourcedCore", "SourcedJSON"]),
        .testTarget(name: "SourcedJSONTests", dependencies: ["SourcedCore", "SourcedJSON"]),
        .testTarget(
            name: "SourcedLuaTests",
            dependencies: ["SourcedCore", "SourcedEngine", "SourcedJSON", "SourcedLua", "SourcedStorage", "SourcedTestSupport"]
        ),
        .testTarget(name: "SourcedStorageTests", dependencies: ["SourcedStorage", "SourcedTestSupport"]),
        .testTarget(name: "SourcedEngineTests", dependencies: ["SourcedEngine", "SourcedPostgres", "SourcedTestSupport"]),
        .testTarget(
            name: "SourcedWireTests",
            dependencies: ["SourcedCore", "SourcedJSON", "SourcedWire", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "SourcedServerTests",
            dependencies: [
                "SourcedServer",
                "SourcedWire",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SourcedPostgresTests",
            dependencies: [
                "SourcedCore",
                "SourcedPostgres",
                "SourcedStorage",
                "SourcedTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "SourcedIntegrationTests",
            dependencies: ["SourcedClient", "SourcedCore", "SourcedJSON", "SourcedTestSupport", "SourcedWire"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
