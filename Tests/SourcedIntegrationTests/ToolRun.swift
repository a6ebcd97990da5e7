import Foundation
import SourcedCore
import SourcedTestSupport

/// One finished run of a built command-line tool.
struct ToolRun: Sendable {
    var status: Int32
    var output: String
    var errors: String

    /// Runs the built product `tool` with `arguments` and waits for it, without blocking a thread.
    /// Its outputs go to files, so no pipe can fill up and stall it.
    static func run(
        _ tool: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        in directory: TemporaryDirectory = TemporaryDirectory("run")
    ) async throws -> ToolRun {
        try await run(executable: DaemonProcess.executable(tool), arguments, environment: environment, input: nil, in: directory)
    }

    /// Runs any program, with `input` as its standard input if given; one still running after
    /// `timeout` is killed and the test fails.
    static func run(
        executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        input: String?,
        in directory: TemporaryDirectory = TemporaryDirectory("run"),
        timeout: Duration = .seconds(300)
    ) async throws -> ToolRun {
        let outputPath = directory.file("stdout-\(UUID().uuidString)")
        let errorsPath = directory.file("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorsPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        if let input {
            let inputPath = directory.file("stdin-\(UUID().uuidString)")
            try input.write(toFile: inputPath, atomically: true, encoding: .utf8)
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
        }
        process.arguments = arguments
        var inherited = ProcessInfo.processInfo.environment
        inherited["SOURCED_SOCKET"] = nil
        process.environment = inherited.merging(environment) { _, new in new }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorsPath))
        let exited = ProcessExit()
        process.terminationHandler = { exited.fire($0.terminationStatus) }
        try process.run()
        let status = await exited.wait(pid: process.processIdentifier, program: executable, timeout: timeout) {
            "Its output so far: \(String(((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").suffix(2000))) "
                + "Its errors: \(String(((try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? "").suffix(2000)))"
        }
        return ToolRun(
            status: status,
            output: try String(contentsOfFile: outputPath, encoding: .utf8),
            errors: try String(contentsOfFile: errorsPath, encoding: .utf8)
        )
    }
}
