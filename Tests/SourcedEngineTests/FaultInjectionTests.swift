import Dispatch
import Foundation
import Glibc
import Synchronization
import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Testing

/// Arms one failure of one kind of system call: the `skip + 1`-th such call after arming fails.
final class FaultPlan: Sendable {
    enum Call: Sendable { case write, sync, open }

    private struct Armed {
        var call: Call
        var skip: Int
        var errno: Int32
        /// For writes: bytes really written first, as a short write, before the failure.
        var partial: Int
    }

    private let armed = Mutex<Armed?>(nil)
    let fatal = Mutex<StorageError?>(nil)
    /// When set, the armed write first waits for this semaphore, with `held` raised: the thread
    /// that writes stays inside the call until the test lets it fail.
    private let hold = Mutex<DispatchSemaphore?>(nil)
    let held = Atomic<Bool>(false)

    /// Makes the armed write wait until the returned semaphore is signalled.
    func holdArmedWrite() -> DispatchSemaphore {
        let semaphore = DispatchSemaphore(value: 0)
        hold.withLock { $0 = semaphore }
        return semaphore
    }

    func arm(_ call: Call, errno: Int32, skip: Int = 0, partial: Int = 0) {
        armed.withLock { $0 = Armed(call: call, skip: skip, errno: errno, partial: partial) }
    }

    /// The fault to apply to this call, if it is the armed one.
    private func take(_ call: Call) -> Armed? {
        armed.withLock { armed in
            guard var fault = armed, fault.call == call else { return nil }
            if fault.skip > 0 {
                fault.skip -= 1
                armed = fault
                return nil
            }
            armed = nil
            return fault
        }
    }

    var systemCalls: SystemCalls {
        SystemCalls(
            pwrite: { descriptor, bytes, count, offset in
                guard let fault = self.take(.write) else { return Glibc.pwrite(descriptor, bytes, count, offset) }
                if let semaphore = self.hold.withLock({ $0 }) {
                    self.held.store(true, ordering: .relaxed)
                    semaphore.wait()
                }
                if fault.partial > 0 {
                    self.arm(.write, errno: fault.errno)
                    return Glibc.pwrite(descriptor, bytes, min(fault.partial, count), offset)
                }
                errno = fault.errno
                return -1
            },
            sync: { descriptor, full in
                guard let fault = self.take(.sync) else { return full ? Glibc.fsync(descriptor) : Glibc.fdatasync(descriptor) }
                errno = fault.errno
                return -1
            },
            openat: { directory, name, flags, mode in
                guard let fault = self.take(.open) else { return Glibc.openat(directory, name, flags, mode) }
                errno = fault.errno
                return -1
            },
            syncFileSystem: { descriptor in
                guard let fault = self.take(.sync) else { return SystemCalls.posix.syncFileSystem(descriptor) }
                errno = fault.errno
                return -1
            }
        )
    }
}

@Suite struct FaultInjectionTests {
    let directory = TemporaryDirectory("faults")
    let plan = FaultPlan()

    func start() async throws -> Engine {
        let plan = plan
        return try await Engine.start(
            Engine.Configuration(dataDirectory: directory.file("data"), ioThreads: 2, systemCalls: plan.systemCalls),
            onFatal: { error in plan.fatal.withLock { $0 = error } }
        )
    }

    func files() throws -> [[UInt8]] {
        try [contents(of: directory.file("data/global/00000000000000000001.log")), contents(of: logPath(directory, "counter", "c1"))]
    }

    /// A write that fails (fully, after a short write, or for lack of space) is rolled back:
    /// nothing is acknowledged, both logs are byte-identical to before, and the engine goes on.
    @Test(arguments: [(ENOSPC, 0), (EIO, 0), (EIO, 20), (ENOSPC, 50)])
    func aFailedWriteIsRolledBackAndNothingIsAcknowledged(code: Int32, partial: Int) async throws {
        var engine = try await start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment])
        let before = try files()
        plan.arm(.write, errno: code, partial: partial)
        await #expect {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        } throws: { error in
            guard case EngineError.unavailable(let message) = error else { return false }
            return message.contains(String(cString: strerror(code)))
        }
        #expect(try files() == before, "rolled back to the last good record")
        #expect(engine.fatalError == nil)
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]).version == 3)
        await engine.shutdown()
        engine = try await start()
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).state == Counter.State(count: 2))
        await engine.shutdown()
    }

    /// A chain decided on one whose write is failing is never written: the commit thread refuses
    /// the batch its shard sent before learning of the failure, and the aggregate reloads from
    /// disk. The global write is held inside `pwrite` while the second chain is decided.
    @Test func aChainDecidedOnAFailingChainIsRefusedNotWritten() async throws {
        let engine = try await start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        let before = try files()
        let release = plan.holdArmedWrite()
        plan.arm(.write, errno: EIO)
        let first = Task { try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]) }
        try await waitUntil { plan.held.load(ordering: .relaxed) }
        // The second command hits the live aggregate and is decided on the first, in one step.
        let hits = engine.statistics.hits
        let second = Task { try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]) }
        try await waitUntil { engine.statistics.hits > hits }
        release.signal()
        await #expect {
            try await first.value
        } throws: { "\($0)".contains(String(cString: strerror(EIO))) }
        await #expect {
            try await second.value
        } throws: { "\($0)".contains("an earlier write failed") }
        #expect(try files() == before, "neither chain was written")
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]).version == 2)
        await engine.shutdown()
    }

    /// A failed fdatasync is never retried: the command's outcome is unknown, the store stops,
    /// the owner is told, and a restart is consistent.
    @Test func aFailedSyncStopsTheStoreAndARestartIsConsistent() async throws {
        var engine = try await start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        plan.arm(.sync, errno: EIO)
        await #expect(throws: EngineError.self) {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        }
        let fatal = try #require(plan.fatal.withLock { $0 })
        #expect("\(fatal)".contains("Input/output error"))
        await #expect {
            try await engine.execute(Counter.self, id: id("c2"), commands: [.create])
        } throws: { "\($0)".contains("storage stopped") }
        await #expect(throws: EngineError.self) { try await engine.checkHealth() }
        await engine.shutdown()
        engine = try await start()
        let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(snapshot.state.map { $0.count + 1 } == Int(snapshot.version), "whole chains only")
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.increment]).version == snapshot.version + 1)
        await engine.shutdown()
    }

    /// With sync `always` aggregate logs are synced (one `syncfs`) in the checkpoint round after
    /// acknowledgement. A failure there is fatal as well: never retried, the store stops, the
    /// checkpoint stays behind, and the restart recovers every acknowledged chain from the global log.
    @Test func aFailedFileSystemSyncInTheCheckpointRoundStopsTheStore() async throws {
        var engine = try await start()
        // The chain's global sync passes; the next sync is the checkpoint round's syncfs.
        plan.arm(.sync, errno: EIO, skip: 1)
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create, .increment])
        try await waitUntil(timeout: .seconds(10)) { plan.fatal.withLock { $0 } != nil }
        let fatal = try #require(plan.fatal.withLock { $0 })
        #expect(fatal == .syncFailed(path: directory.file("data"), errno: EIO), "the checkpoint round's syncfs failed: \(fatal)")
        await #expect {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        } throws: { "\($0)".contains("storage stopped") }
        await engine.shutdown()
        engine = try await start()
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).version == 2)
        await engine.shutdown()
    }

    /// The global log took the chain but the aggregate's log write failed: the chain is committed
    /// (outcome unknown to the client), the store stops, and the restart completes the log.
    @Test func aFailedAggregateWriteAfterTheGlobalCommitIsCompletedOnRestart() async throws {
        var engine = try await start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        plan.arm(.write, errno: EIO, skip: 1)
        await #expect {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        } throws: { error in
            guard case EngineError.outcomeUnknown = error else { return false }
            return true
        }
        #expect(plan.fatal.withLock { $0 } != nil)
        await engine.shutdown()
        engine = try await start()
        let snapshot = try await engine.snapshot(Counter.self, id: id("c1"))
        #expect(snapshot.version == 2 && snapshot.state == Counter.State(count: 1), "recovered from the global log")
        await engine.shutdown()
    }

    /// A repair of a damaged log from the global log whose write fails leaves the log as it was
    /// and fails that load only (`unavailable`; the next load repairs it); one whose `fdatasync`
    /// fails stops the store, never retried, and the restart repairs it.
    @Test(arguments: [FaultPlan.Call.write, .sync])
    func aFailedRepairLeavesTheLogAsItWas(call: FaultPlan.Call) async throws {
        var engine = try await start()
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        _ = try await engine.execute(Counter.self, id: id("c1"), commands: [.increment])
        await engine.shutdown()
        let path = logPath(directory, "counter", "c1")
        var damaged = try contents(of: path)
        damaged[40] ^= 0x08
        try write(damaged, to: path)
        engine = try await start()
        plan.arm(call, errno: EIO)
        await #expect {
            try await engine.snapshot(Counter.self, id: id("c1"))
        } throws: { error in
            switch (call, error) {
            case (.write, EngineError.unavailable(let message)): message.contains("Input/output error")
            case (.sync, EngineError.outcomeUnknown(let message)): message.contains("Input/output error")
            default: false
            }
        }
        #expect(try contents(of: path) == damaged, "the log is untouched")
        #expect(!FileManager.default.fileExists(atPath: path + ".repair"), "nothing is left beside it")
        if call == .sync {
            #expect(plan.fatal.withLock { $0 } != nil, "the store stopped")
            await engine.shutdown()
            engine = try await start()
        }
        #expect(try await engine.snapshot(Counter.self, id: id("c1")).version == 2)
        await engine.shutdown()
    }

    /// Out of descriptors when loading the aggregate (the first open), or when opening its log to
    /// write it (the second, after the load found no log): either way only that request fails,
    /// with nothing committed, and the engine goes on.
    @Test(arguments: [0, 1])
    func runningOutOfFileDescriptorsFailsTheRequestOnly(opensBefore: Int) async throws {
        let engine = try await start()
        _ = try await engine.execute(Counter.self, id: id("c0"), commands: [.create])
        let global = try contents(of: directory.file("data/global/00000000000000000001.log"))
        plan.arm(.open, errno: EMFILE, skip: opensBefore)
        await #expect {
            try await engine.execute(Counter.self, id: id("c1"), commands: [.create])
        } throws: { error in
            guard case EngineError.unavailable(let message) = error else { return false }
            return message.contains("Too many open files")
        }
        #expect(engine.fatalError == nil)
        #expect(try contents(of: directory.file("data/global/00000000000000000001.log")) == global, "nothing was committed")
        #expect(try await engine.execute(Counter.self, id: id("c1"), commands: [.create]).version == 1)
        await engine.shutdown()
    }
}
