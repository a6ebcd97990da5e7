import ArgumentParser
import Foundation
import NIOPosix
import SourcedCore
import SourcedStorage
import SourcedWire

/// `sourced check`: verify a data directory offline.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify every log of a data directory, and each aggregate log against the global log, while sourced is stopped.",
        discussion: """
            Reads the global log and every aggregate log, record by record. Reports, with the \
            file, the byte offset and the aggregate: a torn tail of the global log (an \
            interrupted last write); aggregate logs that are damaged, end before the global log's \
            newest chain of their aggregate, or are missing, and what the global log can restore; \
            aggregate records that verify but differ from the global log at their position \
            (aggregate, versions, bytes); and corruption no intact copy covers. With --repair, a \
            torn tail of the global log is cut off after its bytes are copied to \
            FILE.torn-OFFSET, and aggregate logs are repaired from the global log (replaced bytes \
            are kept in FILE.torn-OFFSET or FILE.damaged-OFFSET); each repair is listed. \
            Corruption and disagreements are never touched. Snapshots are verified last (checksum, \
            model, state version, and that the log's record at their offset has their version); \
            --repair deletes a bad one, which a load would ignore anyway. Exits 0 when every log verifies and \
            agrees (after repairs), 1 otherwise. Refuses to run while a sourced holds the directory.

            The data directory is sourced's: --data-dir before or after check (sourced --data-dir \
            /var/lib/sourced check), else $SOURCED_DATA_DIR, else ~/.local/state/sourced/data.
            """
    )

    /// The daemon's options, for `--data-dir`.
    @ParentCommand var daemon: Sourced

    @Flag(help: "Cut off a torn tail of the global log, repair aggregate logs from the global log (replaced bytes are saved beside the log), and delete bad snapshots.")
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
                let stateVersions = Dictionary(uniqueKeysWithValues: ModelCatalog.builtIn.models.map { ($0.name, $0.stateVersion) })
                return try LogChecker(directory, stateVersions: stateVersions).run(repair: repair)
            }
        } catch {
            throw DaemonFailure(reason: "\(error)")
        }
        for finding in report.findings {
            print(finding)
        }
        let problems = report.findings.count { !$0.isRepair }
        print("checked \(report.logs) logs, \(report.records) records, \(report.snapshots) snapshots: " + (report.isClean ? "all verify" : "\(problems) with problems"))
        if !report.isClean {
            throw ExitCode.failure
        }
    }
}
