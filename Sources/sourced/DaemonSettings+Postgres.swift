import Logging

extension DaemonSettings {
    /// The options of the local logs, which the PostgreSQL store (`--postgres`) does not use.
    static let localStoreOnly = ["sync", "segment-size", "retain-global", "snapshot-every", "checkpoint-interval", "io-threads", "max-open-files"]

    /// Warns, with `--postgres`, of each option of the local logs that was given a value anyway.
    func warnOfOptionsPostgresIgnores(_ logger: Logger) {
        guard postgres != nil else { return }
        for name in Self.localStoreOnly where given.contains(name) {
            logger.warning("--\(name) is not used: chains live in PostgreSQL (--postgres), not in the data directory")
        }
    }
}
