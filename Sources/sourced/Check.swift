import ArgumentParser
import Foundation
import NIOPosix
import SourcedStorage
import SourcedWire

/// `sourced check`: verify a data directory offline.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify every log of a data directory while sourced is stopped.",
        discussion: """
            Reads the global log and every aggregate log, record by record, and reports torn tails \
            (an interrupted last write) and corruption (damage followed by valid data) with the \
            file, the byte offset and the aggregate. With --repair, torn tails are cut off after \
            their bytes are copied to FILE.torn-OFFSET; corruption is never touched. Exits 0 when \
            every log verifies, 1 otherwise. Refuses to run while a sourced holds the directory.
            """
    )

    /// The daemon's options, for `--data-dir`.
    @ParentCommand var daemon: Sourced

    @Flag(help: "Cut off torn tails (their bytes are saved beside the log).")
    var repair = false

    func run() async throws {
        let path = daemon.dataDir ?? DefaultLocations(environment: ProcessInfo.processInfo.environment).dataDirectory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path + "/LOCK", isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ValidationError("\(path) is not a sourced data directory (it has no LOCK file)")
        }
        let repair = repair
        let report: LogChecker.Report
        do {
            report = try await NIOThreadPool.singleton.runIfActive {
                let directory = try DataDirectory(path: path, models: [])
                defer { directory.close() }
                return try LogChecker(directory).run(repair: repair)
            }
        } catch {
            throw DaemonFailure(reason: "\(error)")
        }
        for finding in report.findings {
            print(finding)
        }
        let problems = report.findings.count { if case .repaired = $0.kind { false } else { true } }
        print("checked \(report.logs) logs, \(report.records) records: " + (report.isClean ? "all verify" : "\(problems) with problems"))
        if !report.isClean {
            throw ExitCode.failure
        }
    }
}
