import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Synchronization
import Testing

/// Records the positions it is fed; fails the first `failures` attempts at each chain.
final class RecordingHandler: EventHandler {
    let name: String
    private let failures: Int
    private let state = Mutex((positions: [UInt64](), attempts: 0, restored: [UInt8]?.none))

    init(name: String = "recorder", failures: Int = 0) {
        self.name = name
        self.failures = failures
    }

    var positions: [UInt64] { state.withLock { $0.positions } }
    var restored: [UInt8]? { state.withLock { $0.restored } }

    func restore(_ saved: [UInt8]?) {
        state.withLock { $0.restored = saved }
    }

    func handle(_ chain: CommittedChain) throws {
        try state.withLock { state in
            state.attempts += 1
            guard state.attempts > failures else { throw Flaky() }
            state.attempts = 0
            state.positions.append(chain.position)
        }
    }

    func save() -> [UInt8] {
        [UInt8(truncatingIfNeeded: positions.count)]
    }

    struct Flaky: Error {}
}

@Suite struct EventHandlerTests {
    let directory = TemporaryDirectory("handlers")

    func start(_ handlers: [any EventHandler]) async throws -> Engine {
        try await Engine.start(Engine.Configuration(dataDirectory: directory.file("data"), ioThreads: 4, handlers: handlers))
    }

    @Test func handlersSeeEveryChainInOrderAndResumeFromTheirCheckpoint() async throws {
        var handler = RecordingHandler(failures: 2)
        var engine = try await start([handler])
        for index in 0..<20 {
            _ = try await engine.execute(Counter.self, id: id("c\(index % 3)"), commands: index < 3 ? [.create] : [.increment])
        }
        try await waitUntil(timeout: .seconds(30)) { handler.positions.count == 20 }
        #expect(handler.positions == Array(1...20), "retried chains are handled once they succeed, in order")
        await engine.shutdown()

        handler = RecordingHandler()
        engine = try await start([handler])
        #expect(handler.restored == [20], "the state saved with the checkpoint is restored")
        _ = try await engine.execute(Counter.self, id: id("c0"), commands: [.increment])
        try await waitUntil { handler.positions == [21] }
        #expect(engine.statistics.handlers.first?.position == 21)
        await engine.shutdown()
    }

    @Test func aHandlerThatKeepsFailingStopsWithoutStoppingCommands() async throws {
        let handler = RecordingHandler(failures: .max)
        let engine = try await start([handler])
        _ = try await engine.execute(Counter.self, id: id("c"), commands: [.create])
        try await waitUntil(timeout: .seconds(60)) { engine.statistics.handlers.first?.failure != nil }
        let status = try #require(engine.statistics.handlers.first)
        #expect(status.failure?.contains("stopped at position 1 after 8 attempts") == true)
        #expect(try await engine.execute(Counter.self, id: id("c"), commands: [.increment]).version == 2)
        await engine.shutdown()
    }
}
