import Benchmark
import Foundation
import SourcedCore
import SourcedEngine
import SourcedStorage

/// The number of idle counters: `SOURCED_BENCH_IDLE_COUNTERS`, default 1,000,000. The scaled rows
/// of the table assume the default (the scaling factor is a million); the printed figures and the
/// custom metrics do not.
var idleCounters: Int {
    ProcessInfo.processInfo.environment["SOURCED_BENCH_IDLE_COUNTERS"].flatMap { Int($0) } ?? 1_000_000
}

/// Whether to keep the idle counters' data directory for later runs: `SOURCED_BENCH_KEEP_DATA=1`.
var keepData: Bool {
    ProcessInfo.processInfo.environment["SOURCED_BENCH_KEEP_DATA"] == "1"
}

/// Runs `body(index)` for every index in `0..<count`, from `tasks` tasks at once.
func concurrently(_ count: Int, tasks: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for task in 0..<tasks {
            group.addTask {
                var index = task
                while index < count {
                    try await body(index)
                    index += tasks
                }
            }
        }
        try await group.waitForAll()
    }
}

/// 6. Memory: how much a live, idle counter costs. Setup creates the counters through an engine
/// (one `create` each, sync none: one log file per counter) and shuts it down; the measured part
/// starts a fresh engine and loads every counter with a `snapshot`, so all of them are live and
/// idle in one registry. RSS is read from `/proc/self/status` after `malloc_trim`, before and
/// after loading; the table's scaled rows (marked `*`) are per counter.
func registerMemoryBenchmarks() {
    let directory = Box<String>()
    let ids = Box<[AggregateID]>()
    // The benchmark framework silences the measured closure's output; teardown prints this.
    let summary = Box<String>()
    let engineSettings = { (directory: String) in
        Engine.Configuration(
            dataDirectory: directory,
            maximumAggregates: idleCounters + 1_000,
            idleTimeout: .seconds(24 * 3600),
            sync: .none
        )
    }

    Benchmark(
        "Memory: 1,000,000 idle counters loaded in one engine (* rows: per counter)",
        configuration: .init(
            metrics: [
                .wallClock, .mallocCountTotal, .mallocFreeDelta, .memoryLeakedBytes, .peakMemoryResidentDelta,
                .residentBytesPerCounter, .operationsPerSecond,
            ],
            timeUnits: .nanoseconds,
            warmupIterations: 0,
            scalingFactor: .mega,
            maxDuration: .seconds(1),
            maxIterations: 1,
            setup: {
                let count = idleCounters
                ids.value = (0..<count).map { Fixtures.id("c\($0)") }
                let allIDs = ids.value!
                // Creating a million log files takes minutes; with SOURCED_BENCH_KEEP_DATA=1 the
                // directory is kept and reused by later runs.
                let path = "\(Fixtures.baseDirectory)/idle-\(count)"
                let marker = path + ".complete"
                directory.value = path
                if keepData, FileManager.default.fileExists(atPath: marker) {
                    print("memory: reusing the \(count) counters in \(path)")
                    return
                }
                Fixtures.remove(marker)
                Fixtures.remove(path)
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                Fixtures.trimHeap()
                let before = Fixtures.residentBytes()
                let start = ContinuousClock.now
                let engine = try await Engine.start(engineSettings(path), logger: Fixtures.quietLogger)
                try await concurrently(count, tasks: 64) { index in
                    _ = try await engine.execute(Counter.self, id: allIDs[index], commands: [.create])
                }
                let elapsed = start.duration(to: .now)
                Fixtures.trimHeap()
                let after = Fixtures.residentBytes()
                print(
                    """
                    memory: created \(count) counters (\(count) log files) through the engine in \
                    \(String(format: "%.1f", elapsed.seconds)) s (\(Int(Double(count) / elapsed.seconds)) creates/s); \
                    \(engine.statistics.liveAggregates) live; RSS grew \((after - before) / count) bytes per counter while creating
                    """
                )
                await engine.shutdown()
                _ = FileManager.default.createFile(atPath: marker, contents: nil)
            },
            teardown: {
                summary.value.map { print($0) }
                guard !keepData, let path = directory.value else { return }
                let start = ContinuousClock.now
                Fixtures.remove(path + ".complete")
                Fixtures.remove(path)
                print("memory: removed the data directory in \(String(format: "%.1f", start.duration(to: .now).seconds)) s")
            }
        )
    ) { benchmark in
        let count = idleCounters
        let allIDs = ids.value!
        let engine = try await Engine.start(engineSettings(directory.value!), logger: Fixtures.quietLogger)
        Fixtures.trimHeap()
        let before = Fixtures.residentBytes()

        benchmark.startMeasurement()
        let start = ContinuousClock.now
        try await concurrently(count, tasks: 16) { index in
            let snapshot = try await engine.snapshot(Counter.self, id: allIDs[index])
            guard snapshot.version == 1, snapshot.state == Counter.State(count: 0) else {
                throw BenchmarkFailure("counter \(index): version \(snapshot.version)")
            }
        }
        let elapsed = start.duration(to: .now)
        benchmark.stopMeasurement()

        Fixtures.trimHeap()
        let after = Fixtures.residentBytes()
        let statistics = engine.statistics
        let perCounter = Double(after - before) / Double(count)
        benchmark.measurement(.residentBytesPerCounter, Int(perCounter.rounded()))
        benchmark.measurement(.operationsPerSecond, Int(Double(count) / elapsed.seconds))
        summary.value = (
            """
            memory: loaded \(count) counters in \(String(format: "%.1f", elapsed.seconds)) s; \
            \(statistics.liveAggregates) live, \(statistics.loads) loads, \(statistics.openFiles) open files; \
            RSS \(before / 1_048_576) MiB -> \(after / 1_048_576) MiB: \(String(format: "%.0f", perCounter)) bytes per idle counter
            """
        )
        guard statistics.liveAggregates == count else {
            throw BenchmarkFailure("\(statistics.liveAggregates) live aggregates, expected \(count)")
        }
        await engine.shutdown()
    }
}
