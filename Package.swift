// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sourced",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SourcedEngine", targets: ["SourcedEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(name: "SourcedCore"),
        .target(
            name: "SourcedStorage",
            dependencies: [
                "SourcedCore",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SourcedEngine",
            dependencies: [
                "SourcedCore",
                "SourcedStorage",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "SourcedTestSupport", path: "Tests/SourcedTestSupport"),
        .testTarget(name: "SourcedCoreTests", dependencies: ["SourcedCore"]),
        .testTarget(name: "SourcedStorageTests", dependencies: ["SourcedStorage", "SourcedTestSupport"]),
        .testTarget(name: "SourcedEngineTests", dependencies: ["SourcedEngine", "SourcedTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
