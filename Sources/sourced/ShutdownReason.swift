/// Why the daemon stops, set once by whoever notices first.
enum ShutdownReason: Sendable {
    case signal(Int32)
    /// Storage failed in a way only a restart recovers from.
    case storageFailed(String)
    /// The server stopped on its own, with this error if it failed.
    case serverStopped((any Error)?)
}
