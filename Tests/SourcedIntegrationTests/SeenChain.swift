/// A chain as the daemon-level failover test saw it: acknowledged to a client (the aggregate, the
/// version its chain took and the global position the daemon answered), or streamed to the
/// subscriber (the version of its event).
struct SeenChain: Sendable, Hashable, CustomStringConvertible {
    var model: String
    var id: String
    var version: Int64
    var position: Int64
    /// Whether the daemon answered it as a repeat of a command id it had already committed
    /// (`"duplicate": true`): a retry after `outcome_unknown` whose first try had landed.
    var duplicate = false

    var description: String { "\(model)/\(id) v\(version) at \(position)\(duplicate ? " (duplicate)" : "")" }
}
