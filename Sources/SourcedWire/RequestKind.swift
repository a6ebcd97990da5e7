/// The operation a request line asks for, as statistics, metrics and the monitor name it: one of
/// a fixed set, so that a client cannot make a label of its own.
public enum RequestKind: String, CaseIterable, Sendable {
    case execute, get, events, subscribe, query, list, models, stats, ping, monitor
    /// A line that names no operation this daemon knows, or is not a request at all.
    case invalid
}
