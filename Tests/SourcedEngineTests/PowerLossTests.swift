import Foundation
import Glibc
import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport
import Synchronization
import Testing

/// Power loss after a `syncfs` that reported success without syncing anything (as FUSE and
/// network file systems can), simulated through the storage seam: every file goes back to what
/// its last real `fdatasync`/`fsync` made durable, and a file never synced is gone.
///
/// Where the file system is known not to honour `syncfs` (FUSE here), the store syncs each log
/// and the checkpoint stays honest. Where it is trusted but lies (ext4 that is not), the
/// checkpoint claims logs durable that are lost; recovery then repairs them from the global log,
/// at start for the aggregates written after the checkpoint, at load for the others. Either way
/// the restart serves every acknowledged chain, and the global stream holds each version once.
@Suite struct PowerLossTests {
    let directory = TemporaryDirectory("power")

    /// The file systems a test pretends the data directory lies on.
    enum FileSystem: UInt32, CaseIterable, Sendable {
        case fuse = 0x6573_5546
        case ext4 = 0xEF53
    }

    @Test(arguments: FileSystem.allCases)
    func aSyncfsThatSyncsNothingLosesNoAcknowledgedChainAcrossAPowerLoss(fileSystem: FileSystem) async throws {
        let disk = PowerLossDisk(fileSystemType: fileSystem.rawValue)
        var engine = try await Engine.start(Engine.Configuration(
            dataDirectory: directory.file("data"), checkpointInterval: .milliseconds(20), ioThreads: 4,
            systemCalls: disk.systemCalls
        ))
        var acknowledged: [String: UInt64] = [:]
        for index in 0..<6 {
            acknowledged["c\(index)"] = try await engine.execute(Counter.self, id: id("c\(index)"), commands: [.create, .increment]).version
            acknowledged["c\(index)"] = try await engine.execute(Counter.self, id: id("c\(index)"), commands: [.increment]).version
        }
        // A checkpoint round passes every chain so far; then c0–c2 go on past it.
        let passed = engine.statistics.position
        try await waitUntil { try checkpoint() >= passed }
        for index in 0..<3 {
            acknowledged["c\(index)"] = try await engine.execute(Counter.self, id: id("c\(index)"), commands: [.increment]).version
        }
        disk.cutPower()
        await engine.shutdown()
        try disk.restoreDurableState(of: directory.file("data"))

        let behind = try chainsMissingFromAggregateLogs(upTo: checkpoint())
        switch fileSystem {
        case .fuse: #expect(behind == 0, "the checkpoint only passes chains whose logs were synced")
        case .ext4: #expect(behind > 0, "the lying syncfs let the checkpoint pass chains that were lost")
        }

        engine = try await Engine.start(in: directory)
        for (raw, version) in acknowledged {
            let snapshot = try await engine.snapshot(Counter.self, id: id(raw))
            #expect(snapshot.version == version && snapshot.state?.count == Int(version) - 1, "\(raw)")
            #expect(try await engine.execute(Counter.self, id: id(raw), commands: [.increment]).version == version + 1, "\(raw)")
        }
        let versions = try await globalVersions(engine)
        for (raw, version) in acknowledged {
            #expect(versions[AggregateKey(model: "counter", id: id(raw))] == version + 1, "\(raw)")
        }
        await engine.shutdown()
    }

    /// The position `global.checkpoint` records.
    func checkpoint() throws -> UInt64 {
        let bytes = try contents(of: directory.file("data/global.checkpoint"))
        return bytes.count < 8 ? 0 : bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// How many chains up to `position` the global log holds that their aggregates' logs lack.
    func chainsMissingFromAggregateLogs(upTo position: UInt64) throws -> Int {
        var missing = 0
        let global = try contents(of: directory.file("data/global/00000000000000000001.log"))
        var chains: [CommittedChain] = []
        _ = try global.withUnsafeBytes { buffer in
            try LogScan(buffer, sequencing: .positions, layout: .preallocated) { entry in
                chains.append(try CommittedChain(entry.header, globalPayload: UnsafeRawBufferPointer(rebasing: buffer[entry.payload]), command: nil))
            }
        }
        for chain in chains where chain.position <= position {
            let log = (try? contents(of: logPath(directory, chain.key.model, chain.key.id.rawValue))) ?? []
            var positions: Set<UInt64> = []
            _ = log.withUnsafeBytes { LogScan($0) { positions.insert($0.header.position) } }
            if !positions.contains(chain.position) { missing += 1 }
        }
        return missing
    }
}

/// A disk behind the storage seam that remembers what each real sync made durable, and whose
/// `syncfs` returns success without syncing anything.
final class PowerLossDisk: Sendable {
    private struct FileID: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private struct State {
        var powered = true
        /// Each file's bytes as its last sync left them.
        var durable: [FileID: [UInt8]] = [:]
    }

    private let state = Mutex(State())
    private let fileSystemType: UInt32

    init(fileSystemType: UInt32) {
        self.fileSystemType = fileSystemType
    }

    var systemCalls: SystemCalls {
        var calls = SystemCalls.posix
        calls.sync = { descriptor, full in
            let result = full ? Glibc.fsync(descriptor) : Glibc.fdatasync(descriptor)
            if result == 0 { self.remember(descriptor) }
            return result
        }
        calls.syncFileSystem = { _ in 0 }
        let type = fileSystemType
        calls.fileSystemType = { _ in type }
        return calls
    }

    /// From now on nothing becomes durable: the power is gone, whatever the process still does.
    func cutPower() {
        state.withLock { $0.powered = false }
    }

    /// Puts every file below `path` back to what its last sync made durable, and removes those
    /// never synced (their directory entries were never made durable either).
    func restoreDurableState(of path: String) throws {
        let durable = state.withLock { $0.durable }
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            let file = path + "/" + relative
            var info = stat()
            guard stat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG, relative != "LOCK" else { continue }
            if let bytes = durable[FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))] {
                try write(bytes, to: file)
            } else {
                try FileManager.default.removeItem(atPath: file)
            }
        }
    }

    private func remember(_ descriptor: Int32) {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        guard bytes.isEmpty || pread(descriptor, &bytes, bytes.count, 0) == bytes.count else { return }
        state.withLock { state in
            if state.powered {
                state.durable[FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))] = bytes
            }
        }
    }
}
