import Foundation
import Glibc
import Logging

/// A swift-log handler writing one line per message to standard error, readable both by people
/// and by the journal.
///
/// Under systemd (`JOURNAL_STREAM` set) each line starts with a `<N>` syslog priority, which
/// journald turns into the entry's priority, and carries no timestamp (the journal adds one).
/// Elsewhere lines carry an ISO 8601 timestamp and the level in words.
///
/// The level is the ``SharedLogLevel`` the handler was made with, so a reload changes it for
/// every logger at once, unless a logger set its own `logLevel`.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let journal: Bool
    private let sharedLevel: SharedLogLevel
    /// A level this handler's logger set for itself; it then no longer follows `sharedLevel`.
    private var ownLevel: Logger.Level?

    public init(label: String, level: SharedLogLevel, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.label = label
        self.sharedLevel = level
        self.journal = environment["JOURNAL_STREAM"] != nil
    }

    public var logLevel: Logger.Level {
        get { ownLevel ?? sharedLevel.level }
        set { ownLevel = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = journal
            ? "<\(Self.priority(event.level))>"
            : "\(Date().formatted(.iso8601)) \(event.level) "
        line += "\(label): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        line += "\n"
        Self.write(line)
    }

    /// Writes to standard error with `write(2)`, giving up on error: logging must never stop or
    /// crash the daemon (FileHandle traps on EPIPE and EAGAIN).
    private static func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// The syslog priority of `level` (RFC 5424 severities).
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
