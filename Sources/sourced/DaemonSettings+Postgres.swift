import Logging
import SourcedPostgres

extension DaemonSettings {
    /// The options of the local logs, which the PostgreSQL store (`--postgres`) does not use.
    static let localStoreOnly = ["sync", "segment-size", "retain-global", "snapshot-every", "checkpoint-interval", "io-threads", "max-open-files"]

    /// The PostgreSQL store's settings as the engine takes them: the connection string's, with
    /// `--postgres-timeout`; `nil` for the local logs.
    var postgresStore: PostgresConnectionSettings? {
        postgres.map { settings in
            var settings = settings
            settings.requestTimeout = postgresTimeout
            return settings
        }
    }

    /// Warns of each option of the other store that was given a value anyway: with `--postgres`,
    /// those of the local logs; without it, `--postgres-timeout`.
    func warnOfOptionsTheStoreIgnores(_ logger: Logger) {
        guard postgres != nil else {
            if given.contains("postgres-timeout") {
                logger.warning("--postgres-timeout is not used: chains live in the data directory (no --postgres)")
            }
            return
        }
        for name in Self.localStoreOnly where given.contains(name) {
            logger.warning("--\(name) is not used: chains live in PostgreSQL (--postgres), not in the data directory")
        }
    }
}
