import Histogram
import SourcedWire

/// What one event loop counted of the requests its connections answered: per kind of request,
/// how many, how many failed with which code, and their latencies since start and over the last
/// minute. Written only by its loop; ``RequestMetrics`` adds the loops' figures for `stats`.
struct RequestFigures {
    struct Kind {
        var count = 0
        var failures: [ErrorCode: Int] = [:]
        var latency = RequestFigures.makeHistogram()
        var lastMinute = LatencyWindow()
    }

    /// Latencies are kept in microseconds up to a minute (longer ones count as a minute), to two
    /// significant digits: within 1%.
    static let highestMicroseconds: UInt64 = 60_000_000

    static func makeHistogram() -> Histogram<UInt32> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .two)
    }

    /// Per ``RequestKind``, in `allCases` order; `nil` until a request of that kind came.
    private(set) var kinds: [Kind?] = Array(repeating: nil, count: RequestKind.allCases.count)

    /// Counts one answered request.
    mutating func record(_ kind: RequestKind, failure: ErrorCode?, microseconds: UInt64, now: UInt64) {
        let index = kind.index
        if kinds[index] == nil { kinds[index] = Kind() }
        let value = min(max(microseconds, 1), Self.highestMicroseconds)
        kinds[index]!.count += 1
        if let failure { kinds[index]!.failures[failure, default: 0] += 1 }
        _ = kinds[index]!.latency.record(value)
        kinds[index]!.lastMinute.record(value, now: now)
    }
}

extension RequestKind {
    /// The position in `allCases`.
    var index: Int {
        switch self {
        case .execute: 0
        case .get: 1
        case .events: 2
        case .subscribe: 3
        case .query: 4
        case .list: 5
        case .models: 6
        case .stats: 7
        case .ping: 8
        case .monitor: 9
        case .invalid: 10
        }
    }
}
