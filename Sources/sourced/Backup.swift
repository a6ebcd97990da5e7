import ArgumentParser
import Foundation
import NIOPosix
import SourcedCore
import SourcedStorage
import SourcedWire

/// `sourced backup`: copy a data directory while the daemon serves writes from it.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a data directory into DESTINATION while sourced serves writes from it (or while it is stopped).",
        discussion: """
            Reads the daemon's files beside it, without its lock and without writing to them: the \
            global log's segments are opened first (so that retention cannot take them), then \
            global.checkpoint, handler states, snapshots and aggregate logs are copied, then the \
            global log, each file up to its last whole record. The aggregate logs that lag the \
            copied global log (written to while the copy ran) are then completed from it, and \
            every log of the copy is verified, as sourced check --repair does. Every file and \
            directory of the copy is durable before it reports success (one syncfs of its file \
            system, or an fsync of each file where syncfs cannot be trusted, as on NFS or FUSE; \
            then an fsync of each directory).

            The copy holds every command acknowledged before the backup started, passes sourced \
            check, and is restored by starting sourced on it (--data-dir DESTINATION, or copy it \
            into place while sourced is stopped). DESTINATION must not exist or be empty. Exits 0 \
            with a summary; 1 if the copy failed (delete DESTINATION) or does not verify because \
            the data directory does not (the findings are listed).

            The data directory is sourced's: --data-dir before or after backup (sourced \
            --data-dir /var/lib/sourced backup /srv/backup/sourced-1), else $SOURCED_DATA_DIR, \
            else ~/.local/state/sourced/data. Example: sourced backup --data-dir \
            /var/lib/sourced /srv/backup/sourced-$(date +%F)
            """
    )

    /// The daemon's options, for `--data-dir`.
    @ParentCommand var daemon: Sourced

    @Argument(help: "Where the copy goes: a directory that does not exist (it is created) or is empty.")
    var destination: String

    func run() async throws {
        let source = daemon.dataDir ?? DefaultLocations(environment: ProcessInfo.processInfo.environment).dataDirectory
        let backup = OnlineBackup(
            source: source, destination: destination,
            stateVersions: Dictionary(uniqueKeysWithValues: ModelCatalog.builtIn.models.map { ($0.name, $0.stateVersion) })
        )
        // Every segment of the global log is held open while the backup runs.
        _ = Daemon.raiseOpenFileLimit()
        let started = ContinuousClock.now
        let summary: OnlineBackup.Summary
        do {
            summary = try await NIOThreadPool.singleton.runIfActive { try backup.run() }
        } catch {
            throw DaemonFailure(reason: "\(error)")
        }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let positions = summary.lastPosition >= summary.firstPosition ? "positions \(summary.firstPosition)–\(summary.lastPosition)" : "no positions"
        print(
            "backed up \(backup.source) to \(backup.destination): \(summary.segments) global segments (\(positions)), "
                + "\(summary.aggregateLogs) aggregate logs (\(summary.completedLogs) completed from the global log), "
                + "\(summary.snapshots) snapshots, \(summary.handlerStates) handler states; "
                + "\(summary.bytes) bytes in \(String(format: "%.2f", seconds)) s; the copy verifies"
        )
    }
}
