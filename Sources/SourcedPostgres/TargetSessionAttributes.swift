/// Which servers a connection may settle on, as libpq's `target_session_attrs`: with several hosts
/// in the connection string, the first one that answers and has these attributes is used.
///
/// A server is read-only when `transaction_read_only` is on in a new session (a standby, or a
/// server with `default_transaction_read_only`), and a standby when `pg_is_in_recovery()` is true.
public enum TargetSessionAttributes: String, Sendable, Equatable, CaseIterable {
    /// Any server that answers (the default).
    case any
    /// A server that accepts writes: the one Sourced commits need after a failover.
    case readWrite = "read-write"
    /// A server that refuses writes.
    case readOnly = "read-only"
    /// A server not in recovery.
    case primary
    /// A server in recovery (a standby).
    case standby
    /// A standby if one answers, else any server.
    case preferStandby = "prefer-standby"

    /// Whether the attributes need the server's state checked once connected.
    var needsCheck: Bool { self != .any }

    /// Why a server in this state does not qualify, or `nil` if it does. `prefer-standby` accepts
    /// only standbys here; the fallback to any server is the caller's second pass.
    func refusal(inRecovery: Bool, readOnly: Bool) -> String? {
        switch self {
        case .any:
            nil
        case .readWrite:
            readOnly ? "read-only (transaction_read_only is on\(inRecovery ? ", a standby in recovery" : ""))" : nil
        case .readOnly:
            readOnly ? nil : "accepts writes (transaction_read_only is off)"
        case .primary:
            inRecovery ? "a standby (pg_is_in_recovery() is true)" : nil
        case .standby, .preferStandby:
            inRecovery ? nil : "not a standby (pg_is_in_recovery() is false)"
        }
    }
}
