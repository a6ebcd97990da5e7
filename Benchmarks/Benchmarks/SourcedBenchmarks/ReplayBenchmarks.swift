import Benchmark
import Foundation
import SourcedCore
import SourcedEngine
import SourcedStorage

/// The number of events of the big counter: `SOURCED_BENCH_EVENTS`, default 1,000,000.
var bigCounterEvents: UInt64 {
    ProcessInfo.processInfo.environment["SOURCED_BENCH_EVENTS"].flatMap { UInt64($0) } ?? 1_000_000
}

/// 2. Replay: a fresh engine loads a counter of 1,000,000 events (one per record) from its log, and
/// from a snapshot of its last version.
func registerReplayBenchmarks() {
    let directory = Box<String>()
    let big = Fixtures.id("big")

    Benchmark(
        "Replay: cold load of a 1,000,000-event counter (fresh Engine, then snapshot)",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .peakMemoryResidentDelta, .eventsPerSecond, .engineStartMilliseconds],
            timeUnits: .milliseconds,
            // The log was just written, so it is in the page cache: every iteration measures the
            // CPU side of a load (read, verify, decode, fold), which is the point.
            warmupIterations: 0,
            maxDuration: .seconds(60),
            maxIterations: 3,
            setup: {
                try await Fixtures.verifyEncodingMatchesEngine()
                let start = ContinuousClock.now
                directory.value = try await Fixtures.writeDirectory("replay", counters: [(big, bigCounterEvents)])
                print("replay: wrote a counter of \(bigCounterEvents) events (and global.log) in \(start.duration(to: .now))")
            },
            teardown: {
                directory.value.map(Fixtures.remove)
            }
        )
    ) { benchmark in
        let events = bigCounterEvents
        let starting = ContinuousClock.now
        // No snapshots: every iteration replays the whole log.
        let engine = try await Engine.start(.init(dataDirectory: directory.value!, snapshotInterval: 0, sync: .none), logger: Fixtures.quietLogger)
        benchmark.measurement(.engineStartMilliseconds, Int(starting.duration(to: .now).seconds * 1000))

        benchmark.startMeasurement()
        let loading = ContinuousClock.now
        let snapshot = try await engine.snapshot(Counter.self, id: big)
        let elapsed = loading.duration(to: .now)
        benchmark.stopMeasurement()

        benchmark.measurement(.eventsPerSecond, Int(Double(events) / elapsed.seconds))
        await engine.shutdown()
        guard snapshot.version == events, snapshot.state?.count == Int(events) - 1 else {
            throw BenchmarkFailure("loaded version \(snapshot.version), count \(String(describing: snapshot.state?.count))")
        }
    }

    let snapshotted = Box<String>()
    Benchmark(
        "Replay: cold load of a 1,000,000-event counter from a snapshot (fresh Engine, then snapshot)",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal, .engineStartMilliseconds],
            timeUnits: .microseconds,
            warmupIterations: 0,
            maxDuration: .seconds(60),
            maxIterations: 10,
            setup: {
                snapshotted.value = try await Fixtures.writeDirectory("replay-snapshot", counters: [(big, bigCounterEvents)])
                // The first load replays the whole log and, having replayed more than
                // `snapshotInterval` events, writes a snapshot of the last version.
                let engine = try await Engine.start(.init(dataDirectory: snapshotted.value!, sync: .none), logger: Fixtures.quietLogger)
                _ = try await engine.snapshot(Counter.self, id: big)
                while engine.statistics.snapshots == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                }
                await engine.shutdown()
            },
            teardown: {
                snapshotted.value.map(Fixtures.remove)
            }
        )
    ) { benchmark in
        let events = bigCounterEvents
        let starting = ContinuousClock.now
        let engine = try await Engine.start(.init(dataDirectory: snapshotted.value!, sync: .none), logger: Fixtures.quietLogger)
        benchmark.measurement(.engineStartMilliseconds, Int(starting.duration(to: .now).seconds * 1000))

        benchmark.startMeasurement()
        let snapshot = try await engine.snapshot(Counter.self, id: big)
        benchmark.stopMeasurement()

        let replayed = engine.statistics.snapshots
        await engine.shutdown()
        guard snapshot.version == events, snapshot.state?.count == Int(events) - 1, replayed == 0 else {
            throw BenchmarkFailure("loaded version \(snapshot.version), count \(String(describing: snapshot.state?.count)), snapshots written \(replayed)")
        }
    }
}
