import Foundation
import SourcedCore
import SourcedTestSupport

/// One finished run of a built command-line tool.
struct ToolRun: Sendable {
    var status: Int32
    var output: String
    var errors: String

    /// Runs the built product `tool` with `arguments` and waits for it, without blocking a thread
    /// (``SpawnedProgram``). Its outputs go to files, so no pipe can fill up and stall it.
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
        var inputPath = "/dev/null"
        if let input {
            inputPath = directory.file("stdin-\(UUID().uuidString)")
            try input.write(toFile: inputPath, atomically: true, encoding: .utf8)
        }
        var inherited = ProcessInfo.processInfo.environment
        inherited["SOURCED_SOCKET"] = nil
        let status = try await SpawnedProgram.run(
            executable, arguments, environment: inherited.merging(environment) { _, new in new },
            inputPath: inputPath, logPath: outputPath, errorsPath: errorsPath, timeout: timeout
        )
        return ToolRun(
            status: status,
            output: try String(contentsOfFile: outputPath, encoding: .utf8),
            errors: try String(contentsOfFile: errorsPath, encoding: .utf8)
        )
    }
}
