import NIOCore
import Synchronization

/// The server's open connections, its connection counters and the configuration new
/// connections are served with, behind one lock.
final class ConnectionTable: Sendable {
    /// Figures for `stats`.
    struct Counts {
        var open: Int
        var accepted: Int
        var refused: Int
    }

    private struct State {
        var configuration: UnixSocketServer.Configuration
        var open: [ObjectIdentifier: any Channel] = [:]
        var accepted = 0
        var refused = 0
        var closing = false
        /// When a refusal was last logged, so a flood of refused clients cannot flood the log.
        var lastLoggedRefusal: ContinuousClock.Instant?
        /// Waiting for the last connection to close.
        var emptied: [CheckedContinuation<Void, Never>] = []
    }

    /// A refused connection: why, and whether to log it (at most one log line a second).
    struct Refusal {
        var reason: String
        var shouldLog: Bool
        /// Refusals so far, for the log line.
        var total: Int
    }

    private let state: Mutex<State>

    init(configuration: UnixSocketServer.Configuration) {
        state = Mutex(State(configuration: configuration))
    }

    /// What a connection accepted now is served with; `maximumConnections` bounds ``admit(_:)``.
    var configuration: UnixSocketServer.Configuration {
        get { state.withLock { $0.configuration } }
        set { state.withLock { $0.configuration = newValue } }
    }

    var counts: Counts {
        state.withLock { Counts(open: $0.open.count, accepted: $0.accepted, refused: $0.refused) }
    }

    /// Registers `channel`, or returns why it is refused.
    func admit(_ channel: any Channel) -> Refusal? {
        state.withLock { state in
            let reason: String
            let limit = state.configuration.maximumConnections
            if state.closing {
                reason = "sourced is shutting down"
            } else if state.open.count >= limit {
                reason = "too many connections (at most \(limit)); try again later"
            } else {
                state.accepted += 1
                state.open[ObjectIdentifier(channel)] = channel
                return nil
            }
            return Self.count(Refusal(reason: reason, shouldLog: false, total: 0), in: &state)
        }
    }

    /// Counts a connection refused after it was admitted (its peer may not use the daemon), and
    /// says whether to log it: refusals of every kind share one log line a second.
    func refuse(because reason: String) -> Refusal {
        state.withLock { Self.count(Refusal(reason: reason, shouldLog: false, total: 0), in: &$0) }
    }

    private static func count(_ refusal: Refusal, in state: inout State) -> Refusal {
        var refusal = refusal
        state.refused += 1
        let now = ContinuousClock.now
        refusal.shouldLog = state.lastLoggedRefusal.map { now - $0 >= .seconds(1) } ?? true
        if refusal.shouldLog { state.lastLoggedRefusal = now }
        refusal.total = state.refused
        return refusal
    }

    func remove(_ channel: any Channel) {
        let emptied = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open.removeValue(forKey: ObjectIdentifier(channel))
            guard state.open.isEmpty else { return [] }
            defer { state.emptied = [] }
            return state.emptied
        }
        emptied.forEach { $0.resume() }
    }

    /// Returns once no connection is open.
    func waitUntilEmpty() async {
        await withCheckedContinuation { continuation in
            let empty = state.withLock { state in
                guard !state.open.isEmpty else { return true }
                state.emptied.append(continuation)
                return false
            }
            if empty { continuation.resume() }
        }
    }

    /// Refuses connections from now on and returns those open.
    func close() -> [any Channel] {
        state.withLock { state in
            state.closing = true
            return Array(state.open.values)
        }
    }

    var channels: [any Channel] {
        state.withLock { Array($0.open.values) }
    }
}
