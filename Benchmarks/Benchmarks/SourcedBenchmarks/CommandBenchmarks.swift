import Benchmark
import Foundation
import SourcedCore
import SourcedEngine
import SourcedStorage

/// A started engine on a prepared data directory, with some aggregates loaded.
final class EngineFixture: @unchecked Sendable {
    let directory: String
    let engine: Engine

    init(directory: String, engine: Engine) {
        self.directory = directory
        self.engine = engine
    }

    func close() async {
        await engine.shutdown()
        Fixtures.remove(directory)
    }

    /// An engine on a fresh directory holding `counters` (id, events), each loaded and checked,
    /// so that no measured command replays.
    static func loaded(_ name: String, sync: SyncMode, counters: [(AggregateID, UInt64)]) async throws -> EngineFixture {
        let directory = try await Fixtures.writeDirectory(name, counters: counters)
        let engine = try await Engine.start(.init(dataDirectory: directory, sync: sync), logger: Fixtures.quietLogger)
        let fixture = EngineFixture(directory: directory, engine: engine)
        for (id, events) in counters {
            let version = try await engine.snapshot(Counter.self, id: id).version
            guard version == events else {
                await fixture.close()
                throw BenchmarkFailure("\(id) loaded at version \(version), expected \(events)")
            }
        }
        return fixture
    }
}

/// 3. The cost of one command on a loaded aggregate does not depend on its history: one
/// increment on a counter of 1,000,000 events against one on a counter of 10 events, in the same
/// data directory and engine, each iteration one `execute` awaited until acknowledged.
func registerCommandBenchmarks() {
    let big = Fixtures.id("big")
    let small = Fixtures.id("small")

    for sync in [SyncMode.none, .always] {
        // Separate runs (with allocation and system call counts) for sync none only: with sync
        // always the interleaved benchmark below gives the comparison at half the setup time.
        for (label, id) in sync == .none ? [("1,000,000", big), ("10", small)] : [] {
            let fixture = Box<EngineFixture>()
            Benchmark(
                "Command: one increment, loaded counter of \(label) events (sync \(sync.rawValue))",
                configuration: .init(
                    metrics: [.wallClock, .throughput, .mallocCountTotal, .syscalls],
                    timeUnits: .nanoseconds,
                    warmupIterations: 1_000,
                    maxDuration: .seconds(3),
                    maxIterations: 100_000,
                    setup: {
                        fixture.value = try await EngineFixture.loaded("command-\(sync.rawValue)", sync: sync, counters: [(big, bigCounterEvents), (small, 10)])
                    },
                    teardown: {
                        await fixture.value?.close()
                    }
                )
            ) { benchmark in
                let commit = try await fixture.value!.engine.execute(Counter.self, id: id, commands: [.increment])
                blackHole(commit)
            }
        }

        // The same comparison with the two counters interleaved in one process, so that the
        // machine's background load hits both alike: each iteration increments both, in
        // alternating order, timing each command on its own.
        let fixture = Box<EngineFixture>()
        Benchmark(
            "Command: one increment, 1,000,000 vs 10 events, interleaved (sync \(sync.rawValue))",
            configuration: .init(
                metrics: [.wallClock, .incrementBigNanoseconds, .incrementSmallNanoseconds],
                timeUnits: sync == .none ? .nanoseconds : .microseconds,
                warmupIterations: sync == .none ? 1_000 : 20,
                maxDuration: .seconds(sync == .none ? 4 : 5),
                maxIterations: sync == .none ? 100_000 : 2_000,
                setup: {
                    fixture.value = try await EngineFixture.loaded("interleaved-\(sync.rawValue)", sync: sync, counters: [(big, bigCounterEvents), (small, 10)])
                },
                teardown: {
                    await fixture.value?.close()
                }
            )
        ) { benchmark in
            let engine = fixture.value!.engine
            let order = benchmark.currentIteration % 2 == 0 ? [(big, true), (small, false)] : [(small, false), (big, true)]
            for (id, isBig) in order {
                let start = ContinuousClock.now
                let commit = try await engine.execute(Counter.self, id: id, commands: [.increment])
                let nanoseconds = Int(start.duration(to: .now).seconds * 1e9)
                benchmark.measurement(isBig ? .incrementBigNanoseconds : .incrementSmallNanoseconds, nanoseconds)
                blackHole(commit)
            }
        }
    }
}

extension BenchmarkMetric {
    static var incrementBigNanoseconds: BenchmarkMetric {
        .custom("increment, 1M-event counter (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    }

    static var incrementSmallNanoseconds: BenchmarkMetric {
        .custom("increment, 10-event counter (ns)", polarity: .prefersSmaller, useScalingFactor: false)
    }
}
