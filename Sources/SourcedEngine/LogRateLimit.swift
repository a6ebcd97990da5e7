/// Admits one log message per `interval` and counts those it holds back, so that a failure
/// repeated for every aggregate logs a line a minute, not a line per aggregate.
public struct LogRateLimit: Sendable {
    public let interval: Duration
    private var last: ContinuousClock.Instant?
    private var heldBack = 0

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Whether to log now; if so, how many messages were held back since the last one logged.
    public mutating func admit(at now: ContinuousClock.Instant = .now) -> Int? {
        if let last, now - last < interval {
            heldBack += 1
            return nil
        }
        defer {
            last = now
            heldBack = 0
        }
        return heldBack
    }
}
