import Synchronization
import SourcedCore
import SourcedEngine
import SourcedTestSupport
import Testing

@Suite struct RegistryTests {
    let directory = TemporaryDirectory("registry")

    @Test func aSmallCacheServesManyAggregatesExactly() async throws {
        let engine = try await Engine.start(in: directory, maximumAggregates: 10, idleTimeout: .milliseconds(200))
        let aggregates = 1000
        let incrementsEach = 3
        let peak = Atomic(0)
        let done = Atomic(false)
        let sampler = Task {
            while !done.load(ordering: .relaxed) {
                _ = peak.max(engine.statistics.liveAggregates)
                await Task.yield()
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<aggregates {
                group.addTask {
                    let counter = id("c\(index)")
                    _ = try await engine.execute(Counter.self, id: counter, commands: [.create])
                    for _ in 0..<incrementsEach {
                        _ = try await engine.execute(Counter.self, id: counter, commands: [.increment])
                    }
                }
            }
            try await group.waitForAll()
        }
        done.store(true, ordering: .relaxed)
        await sampler.value

        for index in 0..<aggregates {
            let snapshot = try await engine.snapshot(Counter.self, id: id("c\(index)"))
            #expect(snapshot.state == Counter.State(count: incrementsEach) && snapshot.version == UInt64(incrementsEach + 1))
        }
        let statistics = engine.statistics
        #expect(peak.load(ordering: .relaxed) <= 10)
        #expect(statistics.liveAggregates <= 10)
        #expect(statistics.evictions >= aggregates - 10)
        #expect(statistics.loads > aggregates, "evicted aggregates were loaded again")
        #expect(statistics.openFiles <= 64)
        await engine.shutdown()
    }

    @Test func idleAggregatesAreEvictedAndReloadedExactly() async throws {
        let engine = try await Engine.start(in: directory, idleTimeout: .milliseconds(50))
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment])
        try await waitUntil { engine.statistics.liveAggregates == 0 }
        #expect(engine.statistics.evictions == 1)
        let commit = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        #expect(commit.version == 3 && commit.state == Counter.State(count: 2))
        #expect(engine.statistics.loads == 2)
        await engine.shutdown()
    }
}

extension Atomic where Value == Int {
    /// Raises the value to at least `candidate`.
    func max(_ candidate: Int) -> Int {
        var current = load(ordering: .relaxed)
        while current < candidate {
            let (exchanged, original) = compareExchange(expected: current, desired: candidate, ordering: .relaxed)
            if exchanged { return candidate }
            current = original
        }
        return current
    }
}
