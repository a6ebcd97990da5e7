import Histogram

/// Request latencies of the last minute: six histograms of ten seconds each, the oldest reused
/// for the newest. A merge covers the current ten seconds and the five before: 50 to 60
/// seconds, never older requests.
struct LatencyWindow {
    static let slots = 6
    static let slotNanoseconds: UInt64 = 10_000_000_000

    private var histograms: [Histogram<UInt32>]
    /// Per slot, the ten-second interval (monotonic time / 10 s) its histogram counts.
    private var intervals: [UInt64]

    init() {
        histograms = Array(repeating: RequestFigures.makeHistogram(), count: Self.slots)
        intervals = Array(repeating: .max, count: Self.slots)
    }

    /// Counts one latency of `microseconds`, at monotonic time `now` (nanoseconds).
    mutating func record(_ microseconds: UInt64, now: UInt64) {
        let interval = now / Self.slotNanoseconds
        let slot = Int(interval % UInt64(Self.slots))
        if intervals[slot] != interval {
            histograms[slot].reset()
            intervals[slot] = interval
        }
        _ = histograms[slot].record(microseconds)
    }

    /// Adds the latencies recorded in the last minute as of `now` into `total`.
    func add(into total: inout Histogram<UInt32>, now: UInt64) {
        let current = now / Self.slotNanoseconds
        for slot in 0..<Self.slots where intervals[slot] <= current && current - intervals[slot] < UInt64(Self.slots) {
            total.add(histograms[slot])
        }
    }
}
