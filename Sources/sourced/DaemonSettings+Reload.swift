import Logging
import SourcedStorage

extension DaemonSettings {
    /// One setting as a reload sees it: its option name, whether a running daemon takes a new
    /// value, and how to compare, show and adopt it.
    struct Field {
        var name: String
        /// Whether a reload applies a new value; if not, a change is reported as needing a restart.
        var reloadable: Bool
        var differs: (DaemonSettings, DaemonSettings) -> Bool
        var show: (DaemonSettings) -> String
        /// Copies the setting from the second settings into the first.
        var adopt: (inout DaemonSettings, DaemonSettings) -> Void

        init<Value: Equatable>(
            _ name: String,
            _ path: WritableKeyPath<DaemonSettings, Value>,
            reloadable: Bool = false,
            show: @escaping (Value) -> String = { "\($0)" }
        ) {
            self.name = name
            self.reloadable = reloadable
            differs = { $0[keyPath: path] != $1[keyPath: path] }
            self.show = { show($0[keyPath: path]) }
            adopt = { $0[keyPath: path] = $1[keyPath: path] }
        }
    }

    /// A setting whose value differs between the running settings and newly read ones.
    struct Change {
        var field: Field
        var old: String
        var new: String
    }

    /// Every setting the configuration file can hold, by option name. The reloadable ones are
    /// those the daemon reads where it uses them: the log level (every logger), the server's
    /// per-connection settings (each new connection), the slow-request threshold (each request),
    /// the idle timeout (each shard's loop) and the shutdown timeout (at shutdown).
    static var fields: [Field] {
        [
            Field("socket", \.socketPath),
            Field("data-dir", \.dataDirectory),
            Field("postgres", \.postgres, show: { $0?.description ?? "none" }),
            Field("postgres-timeout", \.postgresTimeout, show: seconds),
            Field("max-aggregates", \.maximumAggregates),
            Field("max-memory", \.maximumMemory, show: optional),
            Field("segment-size", \.segmentSize),
            Field("retain-global", \.retainGlobal, show: optional),
            Field("command-window", \.commandWindow),
            Field("snapshot-every", \.snapshotInterval),
            Field("idle-timeout", \.idleTimeout, reloadable: true, show: seconds),
            Field("sync", \.sync, show: \.rawValue),
            Field("checkpoint-interval", \.checkpointInterval, show: seconds),
            Field("max-line-bytes", \.server.maximumLineBytes, reloadable: true),
            Field("line-timeout", \.server.incompleteLineTimeout, reloadable: true, show: seconds),
            Field("max-connections", \.server.maximumConnections, reloadable: true),
            Field("max-open-files", \.maximumOpenFiles, show: optional),
            Field("io-threads", \.ioThreads),
            Field("threads", \.threads),
            Field("models-dir", \.modelsDirectory, show: { $0 ?? "none" }),
            Field("projection", \.projections, show: { $0.isEmpty ? "none" : $0.joined(separator: ",") }),
            Field("subscription-buffer", \.subscriptionBuffer),
            Field("allow-uid", \.server.access.users, reloadable: true, show: identities),
            Field("allow-gid", \.server.access.groups, reloadable: true, show: identities),
            Field("log-level", \.logLevel, reloadable: true, show: \.rawValue),
            Field("shutdown-timeout", \.shutdownTimeout, reloadable: true, show: seconds),
            Field("slow-request", \.server.metrics.slowRequestThreshold, reloadable: true, show: { $0.map(seconds) ?? "0" }),
            Field("metrics-listen", \.metricsListen, show: { $0?.description ?? "none" }),
        ]
    }

    /// The settings that differ in `new`, in the order of ``fields``.
    func changes(to new: DaemonSettings) -> [Change] {
        Self.fields.filter { $0.differs(self, new) }.map { Change(field: $0, old: $0.show(self), new: $0.show(new)) }
    }

    /// Logs a warning for each key of the configuration file that a flag or variable overrides.
    func warnOfOverriddenKeys(_ logger: Logger) {
        for key in overriddenInFile {
            logger.warning("the configuration file's \(key) is not used: --\(key) or \(Self.variable(for: key)) wins over it")
        }
    }

    private static func optional(_ value: Int?) -> String {
        value.map { "\($0)" } ?? "none"
    }

    private static func seconds(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
    }

    private static func identities(_ ids: Set<UInt32>) -> String {
        ids.isEmpty ? "none" : ids.sorted().map { "\($0)" }.joined(separator: ",")
    }
}
