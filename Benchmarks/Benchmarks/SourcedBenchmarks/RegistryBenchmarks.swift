import Benchmark
import Foundation
import SourcedCore
import SourcedEngine
import SourcedStorage

/// 4. The registry under contention: many tasks at once acquiring loaded aggregates (the registry
/// lock, the in-flight count, the actor hop) for `snapshot`, or `execute` now and then.
func registerRegistryBenchmarks() {
    let aggregates = 1_000
    let operationsPerIteration = 16_000
    let ids = (0..<aggregates).map { Fixtures.id("c\($0)") }

    /// Tasks, and how many operations out of 10 are increments (the rest are snapshots).
    let cases: [(tasks: Int, incrementsInTen: Int)] = [(1, 0), (64, 0), (64, 1)]
    for (tasks, incrementsInTen) in cases {
        let fixture = Box<EngineFixture>()
        let mix = incrementsInTen == 0 ? "snapshot" : "\(10 - incrementsInTen)0% snapshot, \(incrementsInTen)0% increment"
        Benchmark(
            "Registry: \(tasks) task\(tasks == 1 ? "" : "s"), \(mix), 1,000 loaded counters (16,000 ops per iteration, sync none)",
            configuration: .init(
                metrics: [.wallClock, .operationsPerSecond, .mallocCountTotal, .contextSwitches],
                timeUnits: .milliseconds,
                warmupIterations: 2,
                maxDuration: .seconds(4),
                maxIterations: 200,
                setup: {
                    let directory = try Fixtures.freshDirectory("registry")
                    let engine = try await Engine.start(.init(dataDirectory: directory, sync: .none), logger: Fixtures.quietLogger)
                    fixture.value = EngineFixture(directory: directory, engine: engine)
                    for id in ids {
                        _ = try await engine.execute(Counter.self, id: id, commands: [.create])
                    }
                    guard engine.statistics.liveAggregates == aggregates else {
                        throw BenchmarkFailure("\(engine.statistics.liveAggregates) live aggregates")
                    }
                },
                teardown: {
                    await fixture.value?.close()
                }
            )
        ) { benchmark in
            let engine = fixture.value!.engine
            let perTask = operationsPerIteration / tasks
            let start = ContinuousClock.now
            let failures = await withTaskGroup(of: Int.self, returning: Int.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var failures = 0
                        // A cheap per-task pseudo-random walk over the aggregates.
                        var state = UInt64(task + 1) &* 0x9E37_79B9_7F4A_7C15
                        for operation in 0..<perTask {
                            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                            let id = ids[Int((state >> 33) % UInt64(aggregates))]
                            do {
                                if operation % 10 < incrementsInTen {
                                    _ = try await engine.execute(Counter.self, id: id, commands: [.increment])
                                } else {
                                    _ = try await engine.snapshot(Counter.self, id: id)
                                }
                            } catch {
                                failures += 1
                            }
                        }
                        return failures
                    }
                }
                return await group.reduce(0, +)
            }
            let elapsed = start.duration(to: .now)
            benchmark.measurement(.operationsPerSecond, Int(Double(perTask * tasks) / elapsed.seconds))
            if failures > 0 {
                benchmark.error("\(failures) operations failed")
            }
        }
    }
}
