import Glibc
import Logging
import NIOCore
import SourcedEngine
import SourcedJSON
import SourcedWire
import Synchronization

/// Records the requests one event loop's connections answer: their figures for `stats`, their
/// Prometheus series, the slow-request log and the monitor's lines.
///
/// ``record(_:reply:started:)`` is called on ``loop`` only; `stats` reads the figures from any
/// loop, so they sit behind a lock that only those two take.
final class RequestRecorder: Sendable {
    private struct State {
        var figures = RequestFigures()
        var series: RequestSeries?
        var slowLog = LogRateLimit(interval: .seconds(1))
        /// Requests this slow or slower are logged; `nil`: none.
        var slowNanoseconds: UInt64?
        /// Monitor lines of this tick, sent at its end.
        var monitorLines: [UInt8] = []
        var monitorLineCount = 0
    }

    let loop: any EventLoop
    private let state: Mutex<State>
    private let monitor: RequestMonitor
    private let logger: Logger

    init(loop: any EventLoop, configuration: RequestMetrics.Configuration, monitor: RequestMonitor, logger: Logger) {
        self.loop = loop
        self.monitor = monitor
        self.logger = logger
        state = Mutex(State(
            series: configuration.registry.map { RequestSeries(registry: $0) },
            slowNanoseconds: Self.nanoseconds(configuration.slowRequestThreshold)
        ))
    }

    /// Logs requests at least `threshold` slow from the next one recorded on; `nil`: none.
    func setSlowRequestThreshold(_ threshold: Duration?) {
        state.withLock { $0.slowNanoseconds = Self.nanoseconds(threshold) }
    }

    private static func nanoseconds(_ threshold: Duration?) -> UInt64? {
        threshold.map { UInt64(clamping: TimeAmount($0).nanoseconds) }
    }

    /// The monotonic clock in nanoseconds, as `started` expects it.
    static var now: UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }

    /// Records a request read at `started` (``now``) whose reply is `reply`.
    func record(_ summary: RequestSummary, reply: ByteBuffer, started: UInt64) {
        let now = Self.now
        let nanoseconds = now &- started
        let failure = Reply.errorCode(of: reply)
        let microseconds = nanoseconds / 1000
        let watched = monitor.isWatched
        let slow: Int?? = state.withLock { state in
            state.figures.record(summary.kind, failure: failure, microseconds: microseconds, now: now)
            state.series?.record(summary.kind, failure: failure, nanoseconds: nanoseconds)
            if watched {
                if state.monitorLines.isEmpty {
                    loop.execute { self.sendMonitorLines() }
                }
                Self.appendMonitorLine(summary, failure: failure, microseconds: microseconds, to: &state.monitorLines)
                state.monitorLineCount += 1
            }
            guard let slowNanoseconds = state.slowNanoseconds, nanoseconds >= slowNanoseconds, summary.kind != .subscribe, summary.kind != .monitor else {
                return .none
            }
            return .some(state.slowLog.admit())
        }
        if case .some(.some(let heldBack)) = slow {
            var metadata: Logger.Metadata = [
                "op": "\(summary.kind.rawValue)", "outcome": "\(failure?.rawValue ?? "ok")", "ms": "\(Double(microseconds) / 1000)",
            ]
            if let model = summary.model { metadata["model"] = "\(model)" }
            if let id = summary.id { metadata["id"] = "\(id)" }
            if heldBack > 0 { metadata["slow_requests_not_logged"] = "\(heldBack)" }
            logger.warning("slow request", metadata: metadata)
        }
    }

    /// A copy of the figures, for `stats`.
    var figures: RequestFigures {
        state.withLock { $0.figures }
    }

    private func sendMonitorLines() {
        let (lines, count) = state.withLock { state in
            defer {
                state.monitorLines = []
                state.monitorLineCount = 0
            }
            return (state.monitorLines, state.monitorLineCount)
        }
        guard count > 0 else { return }
        monitor.send(ByteBuffer(bytes: lines), lineCount: count)
    }

    /// `{"time_us":T,"op":O,"model":M,"id":I,"outcome":"ok"|CODE,"us":N}` and a newline.
    private static func appendMonitorLine(_ summary: RequestSummary, failure: ErrorCode?, microseconds: UInt64, to bytes: inout [UInt8]) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var writer = JSONWriter(appendingTo: bytes)
        bytes = []
        writer.beginObject()
        writer.writeKey("time_us")
        writer.write(Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000)
        writer.writeKey("op")
        writer.write(summary.kind.rawValue)
        if let model = summary.model {
            writer.writeKey("model")
            writer.write(model)
        }
        if let id = summary.id {
            writer.writeKey("id")
            writer.write(id.rawValue)
        }
        writer.writeKey("outcome")
        writer.write(failure?.rawValue ?? "ok")
        writer.writeKey("us")
        writer.write(microseconds)
        writer.endObject()
        writer.bytes.append(0x0A)
        bytes = writer.bytes
    }
}
