import Synchronization

/// What the writers of a failover test share (a store's committers or a daemon's clients): the
/// phase of the failover, when each write was acknowledged, and when and how writes failed.
public final class FailoverLoad: Sendable {
    /// Where the failover stands.
    public enum Phase: Sendable {
        /// The first primary runs.
        case before
        /// The primary was killed at this instant; no standby is promoted yet.
        case failingOver(killedAt: ContinuousClock.Instant)
        /// A standby was promoted; acknowledgements from here on count towards the clients' share.
        case after(killedAt: ContinuousClock.Instant)
    }

    /// Figures of a run, for the test's printout.
    public struct Figures: Sendable {
        public var acknowledgedBeforeKill = 0
        public var acknowledgedAfterPromotion = 0
        public var duplicates = 0
        public var errors: [String: Int] = [:]
        /// The first and last failed attempt, measured from the kill.
        public var errorsFrom: Duration?
        public var errorsUntil: Duration?
        /// From the kill to the first command acknowledged after the promotion.
        public var killToFirstAcknowledgement: Duration?
        /// The longest time without any acknowledgement.
        public var longestGap: Duration = .zero
    }

    private struct State {
        var phase = Phase.before
        var acknowledgements: [ContinuousClock.Instant] = []
        var acknowledgedAfter: [Int: Int] = [:]
        var acknowledgedBeforeKill = 0
        var firstAcknowledgedAfter: ContinuousClock.Instant?
        var duplicates = 0
        var errors: [String: Int] = [:]
        var firstError: ContinuousClock.Instant?
        var lastError: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    /// How many commands each client must have acknowledged after the promotion before it stops.
    public let acknowledgementsAfterPromotion: Int

    public init(acknowledgementsAfterPromotion: Int) {
        self.acknowledgementsAfterPromotion = acknowledgementsAfterPromotion
    }

    public var phase: Phase {
        get { state.withLock { $0.phase } }
        set {
            state.withLock { state in
                if case .failingOver = newValue { state.acknowledgedBeforeKill = state.acknowledgements.count }
                state.phase = newValue
            }
        }
    }

    public var acknowledgedCount: Int { state.withLock { $0.acknowledgements.count } }

    /// Records that one of `client`'s commands was acknowledged now.
    public func acknowledged(by client: Int, duplicate: Bool = false) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.acknowledgements.append(now)
            if duplicate { state.duplicates += 1 }
            if case .after = state.phase {
                state.acknowledgedAfter[client, default: 0] += 1
                if state.firstAcknowledgedAfter == nil { state.firstAcknowledgedAfter = now }
            }
        }
    }

    /// Counts a failed attempt under `kind` (an error code, or how the connection failed).
    public func failed(_ kind: String) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.errors[kind, default: 0] += 1
            if state.firstError == nil { state.firstError = now }
            state.lastError = now
        }
    }

    /// Whether `client` has done its share after the promotion.
    public func isDone(_ client: Int) -> Bool {
        state.withLock { ($0.acknowledgedAfter[client] ?? 0) >= acknowledgementsAfterPromotion }
    }

    /// The run's figures, with times measured from `killedAt`.
    public func figures(killedAt: ContinuousClock.Instant) -> Figures {
        state.withLock { state in
            let sorted = state.acknowledgements.sorted()
            return Figures(
                acknowledgedBeforeKill: state.acknowledgedBeforeKill,
                acknowledgedAfterPromotion: state.acknowledgedAfter.values.reduce(0, +),
                duplicates: state.duplicates,
                errors: state.errors,
                errorsFrom: state.firstError.map { $0 - killedAt },
                errorsUntil: state.lastError.map { $0 - killedAt },
                killToFirstAcknowledgement: state.firstAcknowledgedAfter.map { $0 - killedAt },
                longestGap: zip(sorted, sorted.dropFirst()).map { $1 - $0 }.max() ?? .zero
            )
        }
    }
}
