import SourcedCore

/// Why the PostgreSQL store could not do what it was asked, and what the caller can do about it.
///
/// The cases that matter to a committer are told apart exactly: ``stale(_:)`` and ``refused(sqlState:message:)``
/// mean nothing of the commit was written; ``unavailable(_:)`` means the commit was never sent;
/// only ``outcomeUnknown(_:)`` leaves it open whether the chains were committed.
public enum PostgresStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The connection string cannot be used, for the reason given.
    case invalidConnectionString(String)
    /// The password file named by `passfile` or `PGPASSFILE` cannot be read or is unsafe.
    case passwordFile(path: String, reason: String)
    /// No connection to the server could be made (nothing was sent).
    case cannotConnect(target: String, reason: String)
    /// The database holds a schema newer than this build knows: a newer Sourced migrated it.
    case schemaTooNew(found: Int, supported: Int)
    /// The commit was refused because these chains start at versions their aggregates already
    /// hold (the primary key `(model, aggregate_id, first_version)`, SQLSTATE 23505): their
    /// deciders saw stale state. Nothing of the commit was written; reload these aggregates, decide
    /// again, and resubmit the other chains as they are.
    case stale([StaleChain])
    /// PostgreSQL refused the commit or query with an error; nothing of a refused commit was written.
    case refused(sqlState: String, message: String)
    /// The request was not sent: the connection is down. Nothing of a commit was written.
    case unavailable(String)
    /// The connection was lost after the commit was sent and before its answer arrived: the chains
    /// may or may not be committed. Read them back (or retry with the same command ids) to know.
    case outcomeUnknown(String)
    /// What the database holds contradicts what Sourced writes (a gap in positions, a malformed row).
    case corrupt(String)
    /// The connection listening for commits was lost; waiting readers must subscribe again.
    case listenerLost(String)

    public var description: String {
        switch self {
        case .invalidConnectionString(let reason):
            "invalid PostgreSQL connection string: \(reason)"
        case .passwordFile(let path, let reason):
            "cannot use the password file \(path): \(reason)"
        case .cannotConnect(let target, let reason):
            "cannot connect to PostgreSQL at \(target): \(reason)"
        case .schemaTooNew(let found, let supported):
            "the database holds Sourced schema version \(found), this build knows up to \(supported): run a newer sourced"
        case .stale(let chains):
            "stale versions, nothing committed: \(chains.map(\.description).joined(separator: ", ")); reload these aggregates and decide again"
        case .refused(let sqlState, let message):
            "PostgreSQL refused the request (SQLSTATE \(sqlState)): \(message); nothing of it was committed"
        case .unavailable(let reason):
            "PostgreSQL is not reachable, nothing was sent: \(reason)"
        case .outcomeUnknown(let reason):
            "the connection to PostgreSQL was lost after the commit was sent (\(reason)): it may or may not have committed; read the aggregates back or retry with the same command ids"
        case .corrupt(let reason):
            "the PostgreSQL event store holds unexpected data: \(reason)"
        case .listenerLost(let reason):
            "stopped listening for commits: \(reason); subscribe again from the last position read"
        }
    }
}
