// swift-tools-version:6.1

// Micro-benchmarks for Sourced, kept out of the root package (as swift-nio does) so that the
// root's builds and tests never fetch or build the benchmark framework.
//
//     cd Benchmarks && swift package --disable-sandbox benchmark
//
// See README.md in this directory.

import Foundation
import PackageDescription

/// The root package is a path dependency, so its identity is the name of its directory
/// (`main` in the usual checkout); products must be named with that identity.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

let package = Package(
    name: "SourcedBenchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "SourcedBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SourcedCore", package: rootIdentity),
                .product(name: "SourcedStorage", package: rootIdentity),
                .product(name: "SourcedEngine", package: rootIdentity),
                .product(name: "SourcedWire", package: rootIdentity),
                .product(name: "SourcedJSON", package: rootIdentity),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/SourcedBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
