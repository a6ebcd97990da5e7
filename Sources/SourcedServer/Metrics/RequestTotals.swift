import Histogram
import SourcedJSON
import SourcedWire

/// The figures of every loop added up, as `stats` reports them under `requests`.
struct RequestTotals {
    private struct Kind {
        var count = 0
        var failures: [ErrorCode: Int] = [:]
        var latency = RequestFigures.makeHistogram()
        var lastMinute = RequestFigures.makeHistogram()
    }

    private var kinds: [Kind?] = Array(repeating: nil, count: RequestKind.allCases.count)

    /// Adds one loop's figures; `now` (monotonic nanoseconds) dates the last minute.
    mutating func add(_ figures: RequestFigures, now: UInt64) {
        for (index, loop) in figures.kinds.enumerated() {
            guard let loop else { continue }
            var total = kinds[index] ?? Kind()
            total.count += loop.count
            total.failures.merge(loop.failures, uniquingKeysWith: +)
            total.latency.add(loop.latency)
            loop.lastMinute.add(into: &total.lastMinute, now: now)
            kinds[index] = total
        }
    }

    /// `{"execute": {"count": N, "failed": {"rejected": N, ...}, "latency_us": {...},
    /// "last_minute": {"count": N, ...}}, ...}`, with only the kinds that were asked for.
    var json: JSONValue {
        var members: [JSONValue.Member] = []
        for (index, kind) in RequestKind.allCases.enumerated() {
            guard let total = kinds[index] else { continue }
            let failed = total.failures.sorted { $0.key.rawValue < $1.key.rawValue }.map { JSONValue.Member(key: $0.key.rawValue, value: .integer(Int64($0.value))) }
            let lastMinute: JSONValue = .object(
                [JSONValue.Member(key: "count", value: .integer(Int64(total.lastMinute.totalCount)))] + Self.percentiles(total.lastMinute)
            )
            members.append(JSONValue.Member(key: kind.rawValue, value: [
                "count": .integer(Int64(total.count)),
                "failed": .object(failed),
                "latency_us": .object(Self.percentiles(total.latency)),
                "last_minute": lastMinute,
            ]))
        }
        return .object(members)
    }

    /// p50, p90, p99, p99.9 and the maximum in microseconds; all 0 for no requests.
    private static func percentiles(_ histogram: Histogram<UInt32>) -> [JSONValue.Member] {
        let empty = histogram.totalCount == 0
        func at(_ percentile: Double) -> JSONValue {
            .integer(empty ? 0 : Int64(histogram.valueAtPercentile(percentile)))
        }
        return [
            JSONValue.Member(key: "p50", value: at(50)), JSONValue.Member(key: "p90", value: at(90)),
            JSONValue.Member(key: "p99", value: at(99)), JSONValue.Member(key: "p999", value: at(99.9)),
            JSONValue.Member(key: "max", value: .integer(empty ? 0 : Int64(histogram.max))),
        ]
    }
}
