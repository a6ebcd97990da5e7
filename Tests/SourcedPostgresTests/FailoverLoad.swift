import Synchronization

/// What the committers of a failover test share: when each commit was acknowledged, which phase
/// of the failover the test is in, and how often commits failed and how.
final class FailoverLoad: Sendable {
    enum Phase: Sendable {
        /// The primary runs.
        case before
        /// The primary was killed at this instant; no standby is promoted yet.
        case failingOver(killedAt: ContinuousClock.Instant)
        /// A standby was promoted; commits acknowledged from here on went to it.
        case after(killedAt: ContinuousClock.Instant)
    }

    private struct State {
        var phase = Phase.before
        var acknowledgements: [ContinuousClock.Instant] = []
        var acknowledgedAfter: [Int: Int] = [:]
        var firstAcknowledgedAfter: ContinuousClock.Instant?
        var errors: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// How many commits each committer must have acknowledged by the promoted standby before it stops.
    let commitsAfterFailover: Int

    init(commitsAfterFailover: Int) {
        self.commitsAfterFailover = commitsAfterFailover
    }

    var phase: Phase {
        get { state.withLock { $0.phase } }
        set { state.withLock { $0.phase = newValue } }
    }

    var acknowledgedCount: Int { state.withLock { $0.acknowledgements.count } }

    /// Records that `committer`'s commit was acknowledged now.
    func acknowledged(by committer: Int) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.acknowledgements.append(now)
            if case .after = state.phase {
                state.acknowledgedAfter[committer, default: 0] += 1
                if state.firstAcknowledgedAfter == nil { state.firstAcknowledgedAfter = now }
            }
        }
    }

    /// Counts a failed commit or read under `kind`.
    func failed(_ kind: String) {
        state.withLock { $0.errors[kind, default: 0] += 1 }
    }

    /// Whether `committer` has done its share after the failover.
    func isDone(_ committer: Int) -> Bool {
        state.withLock { ($0.acknowledgedAfter[committer] ?? 0) >= commitsAfterFailover }
    }

    /// The failures counted, by kind.
    var errors: [String: Int] { state.withLock { $0.errors } }

    /// The longest time between two acknowledgements (the writers blocked by the failover), and
    /// the time from the kill to the first commit the promoted standby acknowledged.
    func blocked(killedAt: ContinuousClock.Instant) -> (longestGap: Duration, killToFirstAcknowledgement: Duration?) {
        state.withLock { state in
            let sorted = state.acknowledgements.sorted()
            let longest = zip(sorted, sorted.dropFirst()).map { $1 - $0 }.max() ?? .zero
            return (longest, state.firstAcknowledgedAfter.map { $0 - killedAt })
        }
    }
}
