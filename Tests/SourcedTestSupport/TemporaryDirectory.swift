import Foundation

/// A fresh directory under the system's temporary directory, removed when the value is released.
///
/// Swift Testing runs tests in parallel, so every test gets its own.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "sourced") {
        let name = "\(label)-\(UUID().uuidString.prefix(8))"
        path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String {
        path + "/" + name
    }

    /// Every regular file below the directory, as paths relative to it.
    public func allFiles() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: path)
        var files: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file(relative), isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }
}

/// The bytes of the file at `path`.
public func contents(of path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Replaces the file at `path` with `bytes`, creating its directory if needed.
public func write(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
}

/// Waits until `condition` holds, checking every few milliseconds, and fails after `timeout`.
public func waitUntil(
    timeout: Duration = .seconds(60),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(timeout: timeout) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// A condition did not hold within its deadline.
public struct TimedOut: Error, CustomStringConvertible {
    public var timeout: Duration
    public var description: String { "condition not met within \(timeout)" }
}
