import ArgumentParser
import SourcedBuildInfo
import CLinux
import Foundation
import Logging
import NIOPosix
import SourcedEngine
import SourcedServer
import SourcedStorage
import SourcedSystemd
import SourcedWire

/// The Sourced daemon.
@main
struct Sourced: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sourced",
        abstract: "The Sourced event-sourcing daemon: one actor per aggregate, durable per-aggregate logs.",
        discussion: """
            Serves newline-delimited JSON on a Unix socket (see docs/protocol.md). Every option can \
            also be set by the environment variable named in its help, or in the file --config names \
            (key = value, the option names without dashes); a flag wins over the variable, the \
            variable over the file. SIGHUP reads the file again and applies what can change while \
            running: \(DaemonSettings.fields.filter(\.reloadable).map(\.name).joined(separator: ", ")) \
            (see docs/operations.md, "Reload").
            With no options, data and socket live under $XDG_STATE_HOME/sourced \
            (~/.local/state/sourced): no root needed. Under systemd, $STATE_DIRECTORY and \
            $RUNTIME_DIRECTORY are used, and a socket passed by socket activation is adopted.
            """,
        version: BuildInfo.description,
        subcommands: [Check.self, Backup.self]
    )

    @Option(help: "Configuration file: one \"key = value\" per line, keys being the long option names without dashes, # comments. Flags and environment variables win over it. Read again on SIGHUP. (env: SOURCED_CONFIG; default: none)")
    var config: String?

    @Option(help: "Unix socket path to listen on. (env: SOURCED_SOCKET; default: ~/.local/state/sourced/sourced.sock)")
    var socket: String?

    @Option(help: "Directory holding the logs; created if missing, locked while running. (env: SOURCED_DATA_DIR; default: ~/.local/state/sourced/data)")
    var dataDir: String?

    @Option(help: "Keep chains in this PostgreSQL database instead of --data-dir, which several daemons may share: a libpq connection string, URL (postgres://user@host:5432/db?target_session_attrs=read-write) or key=value pairs, several hosts allowed; keep the password in a password file (passfile=, PGPASSFILE or ~/.pgpass), not here. Snapshots, --sync, --segment-size and --retain-global do not apply; see docs/operations.md, \"Running on PostgreSQL\". (env: SOURCED_POSTGRES; default: none)")
    var postgres: String?

    @Option(help: "Seconds a request to PostgreSQL (a commit, a read, the live feed's check) may go unanswered before its connection is dropped: a frozen or cut-off server then fails the request (a commit answers outcome_unknown) and the next request connects again, to whichever host qualifies. (env: SOURCED_POSTGRES_TIMEOUT; default: 60; at most one year)")
    var postgresTimeout: Double?

    @Option(help: "Directory of Lua models: every *.lua file in it is served as a model beside the built-in ones (docs/models.md, \"Lua models\"); a file that does not load stops the start. (env: SOURCED_MODELS_DIR; default: none)")
    var modelsDir: String?

    @Option(help: "Most aggregates kept in memory; the least recently used idle one is evicted beyond. (env: SOURCED_MAX_AGGREGATES; default: 100000)")
    var maxAggregates: Int?

    @Option(help: "Most memory live aggregates may take by their estimate (each state's encoded size when last measured, plus the events folded in since, plus 700 bytes; see docs/operations.md); the least recently used idle ones are evicted beyond. Accepts suffixes: 64MiB, 1GiB, 500MB. (env: SOURCED_MAX_MEMORY; default: no bound but --max-aggregates)")
    var maxMemory: String?

    @Option(help: "Length past which the global log goes on in a new segment file in DATA_DIR/global; start-up reads the newest segment in full, so this bounds its time and memory. Accepts suffixes: 16MiB, 1GiB; at least 4096 bytes. (env: SOURCED_SEGMENT_SIZE; default: 16MiB)")
    var segmentSize: String?

    @Option(help: "Retention, off by default: keep about this much global log (suffixes as for --segment-size), deleting the oldest segments that every aggregate log and handler has durably passed. What is deleted is the second copy those aggregate logs are repaired from, and subscribers can no longer read it (position_dropped). (env: SOURCED_RETAIN_GLOBAL; default: keep everything)")
    var retainGlobal: String?

    @Option(help: "Command ids remembered per aggregate: a repeat of one of an aggregate's last N command_ids gets the original outcome instead of running again (36 bytes each, only for aggregates that receive ids); 0 turns command ids off. (env: SOURCED_COMMAND_WINDOW; default: 32)")
    var commandWindow: Int?

    @Option(help: "Events between two snapshots of an aggregate's state (written in the background; also when an aggregate whose log grew is evicted); 0 writes none. (env: SOURCED_SNAPSHOT_EVERY; default: 1000)")
    var snapshotEvery: Int?

    @Option(help: "Seconds an aggregate may stay unused in memory before it is evicted. (env: SOURCED_IDLE_TIMEOUT; default: 300; at most one year)")
    var idleTimeout: Double?

    @Option(help: "always: acknowledge once the global log is fdatasynced (aggregate logs are synced in the background and recovered from the global log). every-log: also fdatasync the aggregate's log before acknowledging. none: never sync (UNSAFE: a machine crash loses acknowledged commands). (env: SOURCED_SYNC; default: always)")
    var sync: String?

    @Option(help: "Seconds between checkpoints: with --sync always, how often the aggregate logs are made durable (one syncfs) and the checkpoint advanced; also bounds the work recovery redoes after a crash. (env: SOURCED_CHECKPOINT_INTERVAL; default: 1)")
    var checkpointInterval: Double?

    @Option(help: "Longest request line in bytes; longer lines get too_large and the connection closes. (env: SOURCED_MAX_LINE_BYTES; default: 1048576)")
    var maxLineBytes: Int?

    @Option(help: "Seconds the start of a request line may wait for its end before the connection is answered bad_request and closed (slow clients). (env: SOURCED_LINE_TIMEOUT; default: 30)")
    var lineTimeout: Double?

    @Option(help: "Most client connections at once; more are refused with unavailable. (env: SOURCED_MAX_CONNECTIONS; default: 1024)")
    var maxConnections: Int?

    @Option(help: "Most log files open at once, independent of --max-aggregates. (env: SOURCED_MAX_OPEN_FILES; default: 32768, or fewer if the open-file limit leaves less room beside --max-connections)")
    var maxOpenFiles: Int?

    @Option(help: "Threads doing file I/O: loading aggregates, reading events, the checkpoint. (env: SOURCED_IO_THREADS; default: 32)")
    var ioThreads: Int?

    @Option(help: "Event loops, each owning a shard of the aggregates and serving connections; one commit thread comes on top. (env: SOURCED_THREADS; default: one per core)")
    var threads: Int?

    @Option(help: "Run this in-process projection (repeatable): account-balances. Projections cost nothing unless named. (env: SOURCED_PROJECTION, comma-separated; default: none)")
    var projection: [String] = []

    @Option(help: "Committed commands whose events may wait for a slow subscriber before it is disconnected with fell_behind. (env: SOURCED_SUBSCRIPTION_BUFFER; default: 10000)")
    var subscriptionBuffer: Int?

    @Option(help: "Allow only these uids to connect (repeatable; root and the daemon's own user always may). (env: SOURCED_ALLOW_UID, comma-separated; default: anyone the socket's mode lets in)")
    var allowUid: [UInt32] = []

    @Option(help: "Allow connections from users whose primary group is one of these gids (repeatable). (env: SOURCED_ALLOW_GID, comma-separated)")
    var allowGid: [UInt32] = []

    @Option(help: "Serve Prometheus metrics at http://ADDRESS/metrics; ADDRESS is HOST:PORT, [IPV6]:PORT or PORT (on 127.0.0.1). The systemd unit allows no network: see docs/operations.md for the drop-in. (env: SOURCED_METRICS_LISTEN; default: off)")
    var metricsListen: String?

    @Option(help: "Log requests that take at least this many seconds from being read to their reply (rate-limited to a line a second); 0 logs none. (env: SOURCED_SLOW_REQUEST; default: 1)")
    var slowRequest: Double?

    @Option(help: "trace, debug, info, notice, warning, error or critical. (env: SOURCED_LOG_LEVEL; default: info)")
    var logLevel: String?

    @Option(help: "Seconds to let in-flight requests finish on SIGTERM before closing connections. (env: SOURCED_SHUTDOWN_TIMEOUT; default: 10; at most one year)")
    var shutdownTimeout: Double?

    func run() async throws {
        // Blocks of 128 KiB and more (large states, their snapshots and replies) are mapped and
        // unmapped on their own: with glibc's default the threshold rises with each such block
        // freed, and they then stay in the I/O threads' arenas after eviction, so that RSS grew
        // about 3 times the --max-memory budget in MemoryBudgetTests.
        _ = sourced_set_mmap_threshold(128 << 10)
        let source = SettingsSource(flags: self, environment: ProcessInfo.processInfo.environment)
        let settings: DaemonSettings
        do {
            settings = try source.load()
        } catch let error as ConfigurationFileError {
            throw ValidationError(error.description)
        }
        let inherited: Int32?
        do {
            inherited = try SocketActivation.listeningSocket()
        } catch {
            throw ValidationError(error.description)
        }
        let logLevel = SharedLogLevel(settings.logLevel)
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, level: logLevel) }
        let logger = Logger(label: "sourced")
        settings.warnOfOverriddenKeys(logger)
        settings.warnOfOptionsTheStoreIgnores(logger)
        if let inherited, socket != nil || ProcessInfo.processInfo.environment["SOURCED_SOCKET"] != nil {
            logger.warning("--socket (or SOURCED_SOCKET) is ignored: systemd passed the listening socket", metadata: [
                "ignored": "\(settings.socketPath)", "listening": "\(SocketActivation.path(of: inherited) ?? "unnamed socket")",
            ])
        }
        let daemon = Daemon(settings: settings, source: source, logLevel: logLevel, inheritedSocket: inherited, logger: logger)
        if case .failure(let reason) = await daemon.run() {
            throw DaemonFailure(reason: reason)
        }
    }
}

/// A fatal daemon error, printed once and reported as exit status 1.
struct DaemonFailure: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
