import Prometheus
import SourcedWire

/// The Prometheus series of answered requests, as one event loop records them:
/// `sourced_requests_total{op,outcome}` and `sourced_request_duration_seconds{op}`. Each series
/// is looked up in the registry once per loop, then kept.
struct RequestSeries {
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    let registry: PrometheusCollectorRegistry
    /// By kind index × outcome (0 for `ok`, else 1 + the error code's index).
    private var requests: [Int: Counter] = [:]
    private var durations: [DurationHistogram?] = Array(repeating: nil, count: RequestKind.allCases.count)

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    mutating func record(_ kind: RequestKind, failure: ErrorCode?, nanoseconds: UInt64) {
        let outcome = failure.map { 1 + ErrorCode.allCases.firstIndex(of: $0)! } ?? 0
        let key = kind.index * (ErrorCode.allCases.count + 1) + outcome
        if requests[key] == nil {
            requests[key] = registry.makeCounter(
                descriptor: PrometheusExporter.name("requests", "total", "Requests answered, by operation and outcome (ok or the error code)."),
                labels: [("op", kind.rawValue), ("outcome", failure?.rawValue ?? "ok")]
            )
        }
        requests[key]!.increment()
        if durations[kind.index] == nil {
            durations[kind.index] = registry.makeDurationHistogram(
                descriptor: PrometheusExporter.name("request_duration", "seconds", "Time from reading a request to its reply being ready, by operation."),
                labels: [("op", kind.rawValue)], buckets: Self.durationBuckets
            )
        }
        durations[kind.index]!.recordNanoseconds(Int64(clamping: nanoseconds))
    }
}
