import ArgumentParser
import Foundation
import Logging
import NIOCore
import Prometheus
import SourcedPostgres
import SourcedServer
import SourcedStorage
import SourcedWire

/// The daemon's settings: each from its flag, else its environment variable, else the
/// configuration file (`--config`), else its default.
struct DaemonSettings: Sendable {
    var socketPath: String
    var dataDirectory: String
    /// The PostgreSQL database chains live in instead of ``dataDirectory``, `nil` for the local logs.
    var postgres: PostgresConnectionSettings?
    /// How long a request to PostgreSQL may go unanswered (``PostgresConnectionSettings/requestTimeout``).
    var postgresTimeout: Duration
    /// Where the Lua models are, `nil` for none.
    var modelsDirectory: String?
    var maximumAggregates: Int
    /// `nil`: no bound on the aggregates' estimated memory.
    var maximumMemory: Int?
    var snapshotInterval: Int
    var segmentSize: Int
    /// `nil`: the global log keeps every segment.
    var retainGlobal: Int?
    var commandWindow: Int
    var idleTimeout: Duration
    var checkpointInterval: Duration
    var sync: SyncMode
    var server: UnixSocketServer.Configuration
    /// `nil`: as many as the open-file limit allows, up to ``defaultMaximumOpenFiles``.
    var maximumOpenFiles: Int?
    var ioThreads: Int
    var threads: Int
    /// The in-process projections to run, by name.
    var projections: [String]
    var subscriptionBuffer: Int
    var logLevel: Logger.Level
    var shutdownTimeout: Duration
    /// Where Prometheus scrapes, `nil` for no metrics endpoint.
    var metricsListen: ListenAddress?
    /// Keys the configuration file sets to no effect, because a flag or an environment variable
    /// sets them as well (and wins).
    var overriddenInFile: [String] = []
    /// The options given a value by a flag, a variable or the file, by name.
    var given: Set<String> = []

    /// The projections `--projection` can name.
    static let knownProjections = ["account-balances"]

    /// The environment variable standing for option `name` (`log-level`: `SOURCED_LOG_LEVEL`).
    static func variable(for name: String) -> String {
        "SOURCED_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    init(_ flags: Sourced, environment processEnvironment: [String: String], file: ConfigurationFile? = nil) throws {
        // The file's values stand in for the variables the environment leaves unset.
        var environment = processEnvironment
        var origins: [String: String] = [:]
        var overridden: Set<String> = []
        var given: Set<String> = []
        for (key, entry) in file?.entries ?? [:] {
            let variable = Self.variable(for: key)
            if let set = environment[variable], !set.isEmpty {
                overridden.insert(key)
            } else {
                environment[variable] = entry.value
                origins[variable] = file?.origin(of: key)
            }
        }
        let defaults = DefaultLocations(environment: environment)
        func setting<Value>(
            _ flag: Value?,
            _ name: String,
            default value: Value,
            valid: (Value) -> Bool = { _ in true },
            parse: (String) -> Value?
        ) throws -> Value {
            if let flag {
                given.insert(name)
                if file?.entries[name] != nil { overridden.insert(name) }
                guard valid(flag) else { throw ValidationError("invalid value \"\(flag)\" for --\(name); see sourced --help") }
                return flag
            }
            let variable = Self.variable(for: name)
            guard let text = environment[variable], !text.isEmpty else { return value }
            given.insert(name)
            guard let parsed = parse(text), valid(parsed) else {
                throw ValidationError("invalid value \"\(text)\" in \(origins[variable] ?? variable); see sourced --help")
            }
            return parsed
        }
        let positive: (Int) -> Bool = { $0 > 0 }
        let seconds: (Double) -> Bool = { $0 > 0 && $0 <= 31_536_000 }
        socketPath = flags.socket ?? defaults.socketPath
        dataDirectory = flags.dataDir ?? defaults.dataDirectory
        let postgresString = try setting(flags.postgres, "postgres", default: "") { $0 }
        do {
            postgres = postgresString.isEmpty ? nil : try PostgresConnectionSettings(parsing: postgresString)
        } catch {
            throw ValidationError("invalid --postgres (or SOURCED_POSTGRES, or postgres in the configuration file): \(error)")
        }
        postgresTimeout = .seconds(try setting(flags.postgresTimeout, "postgres-timeout", default: 60, valid: seconds) { Double($0) })
        let models = try setting(flags.modelsDir, "models-dir", default: "") { $0 }
        modelsDirectory = models.isEmpty ? nil : models
        maximumAggregates = try setting(flags.maxAggregates, "max-aggregates", default: 100_000, valid: positive) { Int($0) }
        let memory = try setting(flags.maxMemory, "max-memory", default: "", valid: { (ByteCount.parse($0) ?? 0) > 0 }) { $0 }
        maximumMemory = ByteCount.parse(memory)
        let segment = try setting(flags.segmentSize, "segment-size", default: "16MiB", valid: {
            (ByteCount.parse($0) ?? 0) >= AggregateStore.Configuration.minimumGlobalSegmentSize
        }) { $0 }
        segmentSize = ByteCount.parse(segment)!
        let retain = try setting(flags.retainGlobal, "retain-global", default: "", valid: { (ByteCount.parse($0) ?? 0) > 0 }) { $0 }
        retainGlobal = ByteCount.parse(retain)
        commandWindow = try setting(flags.commandWindow, "command-window", default: 32, valid: { (0...100_000).contains($0) }) { Int($0) }
        snapshotInterval = try setting(flags.snapshotEvery, "snapshot-every", default: 1000, valid: { $0 >= 0 }) { Int($0) }
        idleTimeout = .seconds(try setting(flags.idleTimeout, "idle-timeout", default: 300, valid: seconds) { Double($0) })
        let syncName = try setting(flags.sync, "sync", default: "always", valid: { SyncMode(rawValue: $0) != nil }) { $0 }
        sync = SyncMode(rawValue: syncName)!
        checkpointInterval = .seconds(try setting(flags.checkpointInterval, "checkpoint-interval", default: 1, valid: seconds) { Double($0) })
        func identities(_ flag: [UInt32], _ variable: String) throws -> Set<UInt32> {
            guard flag.isEmpty, let text = environment[variable], !text.isEmpty else { return Set(flag) }
            let values = text.split(separator: ",").map { UInt32($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil }) else {
                throw ValidationError("invalid value \"\(text)\" in \(origins[variable] ?? variable); give numeric ids separated by commas")
            }
            return Set(values.compactMap { $0 })
        }
        let slowRequest = try setting(flags.slowRequest, "slow-request", default: 1, valid: { $0 >= 0 && $0 <= 31_536_000 }) { Double($0) }
        let listen = try setting(flags.metricsListen, "metrics-listen", default: "", valid: { $0.isEmpty || ListenAddress($0) != nil }) { $0 }
        metricsListen = ListenAddress(listen)
        server = UnixSocketServer.Configuration(
            maximumLineBytes: try setting(flags.maxLineBytes, "max-line-bytes", default: 1 << 20, valid: positive) { Int($0) },
            maximumConnections: try setting(flags.maxConnections, "max-connections", default: 1024, valid: positive) { Int($0) },
            access: AccessPolicy(
                users: try identities(flags.allowUid, "SOURCED_ALLOW_UID"),
                groups: try identities(flags.allowGid, "SOURCED_ALLOW_GID")
            ),
            incompleteLineTimeout: .seconds(try setting(flags.lineTimeout, "line-timeout", default: 30, valid: seconds) { Double($0) }),
            metrics: RequestMetrics.Configuration(
                slowRequestThreshold: slowRequest > 0 ? .seconds(slowRequest) : nil,
                registry: metricsListen == nil ? nil : PrometheusCollectorRegistry()
            )
        )
        maximumOpenFiles = try setting(flags.maxOpenFiles.map(Optional.some), "max-open-files", default: nil, valid: { $0.map(positive) ?? true }) { Int($0) }
        ioThreads = try setting(flags.ioThreads, "io-threads", default: 32, valid: positive) { Int($0) }
        threads = try setting(flags.threads, "threads", default: System.coreCount, valid: { (1...256).contains($0) }) { Int($0) }
        projections = flags.projection.isEmpty
            ? (environment["SOURCED_PROJECTION"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            : flags.projection
        for name in projections where !Self.knownProjections.contains(name) {
            throw ValidationError("unknown projection \"\(name)\"; projections: \(Self.knownProjections.joined(separator: ", "))")
        }
        subscriptionBuffer = try setting(flags.subscriptionBuffer, "subscription-buffer", default: 10_000, valid: positive) { Int($0) }
        let levelName = try setting(flags.logLevel, "log-level", default: "info", valid: { Logger.Level(rawValue: $0) != nil }) { $0 }
        logLevel = Logger.Level(rawValue: levelName)!
        shutdownTimeout = .seconds(try setting(flags.shutdownTimeout, "shutdown-timeout", default: 10, valid: seconds) { Double($0) })
        let flagsBesideSetting = [
            ("socket", flags.socket != nil), ("data-dir", flags.dataDir != nil), ("allow-uid", !flags.allowUid.isEmpty),
            ("allow-gid", !flags.allowGid.isEmpty), ("projection", !flags.projection.isEmpty),
        ]
        for (name, given) in flagsBesideSetting where given && file?.entries[name] != nil {
            overridden.insert(name)
        }
        overriddenInFile = overridden.sorted()
        self.given = given
    }
}
