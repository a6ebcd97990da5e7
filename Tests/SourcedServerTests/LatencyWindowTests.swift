import Histogram
import SourcedWire
import Testing

@testable import SourcedServer

@Suite struct LatencyWindowTests {
    private let second: UInt64 = 1_000_000_000

    private func total(_ window: LatencyWindow, at now: UInt64) -> UInt64 {
        var histogram = RequestFigures.makeHistogram()
        window.add(into: &histogram, now: now)
        return histogram.totalCount
    }

    /// What was recorded stays in the last minute for 50 to 60 seconds, then leaves it.
    @Test func latenciesLeaveTheWindowAfterAMinute() {
        var window = LatencyWindow()
        let start = 1_000 * second
        window.record(100, now: start)
        window.record(200, now: start + 5 * second)
        window.record(300, now: start + 15 * second)
        #expect(total(window, at: start + 15 * second) == 3)
        #expect(total(window, at: start + 59 * second) == 3)
        #expect(total(window, at: start + 60 * second) == 1)
        #expect(total(window, at: start + 75 * second) == 0)
        // A slot reused after a minute starts empty.
        window.record(400, now: start + 61 * second)
        #expect(total(window, at: start + 61 * second) == 2)
    }

    /// Every kind keeps its own counts and failures.
    @Test func figuresCountPerKind() {
        var figures = RequestFigures()
        figures.record(.execute, failure: nil, microseconds: 10, now: second)
        figures.record(.execute, failure: .rejected, microseconds: 70_000_000_000, now: second)
        figures.record(.ping, failure: nil, microseconds: 0, now: second)
        let execute = figures.kinds[RequestKind.execute.index]
        #expect(execute?.count == 2 && execute?.failures == [.rejected: 1])
        // Longer than a minute counts as a minute.
        #expect(execute.map { $0.latency.valuesAreEquivalent($0.latency.max, RequestFigures.highestMicroseconds) } == true)
        #expect(figures.kinds[RequestKind.ping.index]?.count == 1)
        #expect(figures.kinds[RequestKind.get.index] == nil)
    }
}
