import NIOCore
import Synchronization

/// The server's open connections and its connection counters, behind one lock.
final class ConnectionTable: Sendable {
    /// Figures for `stats`.
    struct Counts {
        var open: Int
        var accepted: Int
        var refused: Int
    }

    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var accepted = 0
        var refused = 0
        var closing = false
    }

    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    var counts: Counts {
        state.withLock { Counts(open: $0.open.count, accepted: $0.accepted, refused: $0.refused) }
    }

    /// Registers `channel`, or returns why it is refused.
    func admit(_ channel: any Channel) -> String? {
        state.withLock { state in
            if state.closing {
                state.refused += 1
                return "sourced is shutting down"
            }
            guard state.open.count < limit else {
                state.refused += 1
                return "too many connections (at most \(limit)); try again later"
            }
            state.accepted += 1
            state.open[ObjectIdentifier(channel)] = channel
            return nil
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
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
