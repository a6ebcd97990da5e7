import Logging
import NIOCore
import Prometheus

/// What the server measures of the requests it answers, one ``RequestRecorder`` per event loop:
/// per-operation counts, outcomes and latencies (`stats`), Prometheus series if a registry is
/// given, the slow-request log and the `monitor` stream.
public final class RequestMetrics: Sendable {
    public struct Configuration: Sendable {
        /// Requests that take at least this long are logged (rate-limited to one line a second);
        /// `nil`: none.
        public var slowRequestThreshold: Duration?
        /// Where request series go for a Prometheus scrape; `nil`: none are kept.
        public var registry: PrometheusCollectorRegistry?

        public init(slowRequestThreshold: Duration? = nil, registry: PrometheusCollectorRegistry? = nil) {
            self.slowRequestThreshold = slowRequestThreshold
            self.registry = registry
        }
    }

    let monitor = RequestMonitor()
    private let recorders: [RequestRecorder]

    init(loops: some Sequence<any EventLoop>, configuration: Configuration, logger: Logger) {
        recorders = loops.map { [monitor] in RequestRecorder(loop: $0, configuration: configuration, monitor: monitor, logger: logger) }
    }

    /// The recorder of `loop`, one of the loops given at start.
    func recorder(for loop: any EventLoop) -> RequestRecorder {
        guard let recorder = recorders.first(where: { $0.loop === loop }) else {
            preconditionFailure("a connection on a loop the server was not started with")
        }
        return recorder
    }

    /// Logs requests at least `threshold` slow, on every loop, from the next one recorded on;
    /// `nil`: none.
    func setSlowRequestThreshold(_ threshold: Duration?) {
        for recorder in recorders {
            recorder.setSlowRequestThreshold(threshold)
        }
    }

    /// Every loop's figures added up.
    var totals: RequestTotals {
        let now = RequestRecorder.now
        var totals = RequestTotals()
        for recorder in recorders {
            totals.add(recorder.figures, now: now)
        }
        return totals
    }
}
