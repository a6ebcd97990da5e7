import Glibc
import SourcedCore
import Synchronization

/// The on-disk home of one store, held exclusively by one process.
///
/// Layout: `LOCK` (an `flock`ed file holding the owner's pid), `global/` (the global log: every
/// committed chain in commit order, in segment files, see ``GlobalSegment``; the active one goes
/// on with zero-filled space, see ``GlobalLogSpace``), `global.checkpoint` (how far the aggregate
/// logs are known to hold the global log), `aggregates/<model>/<file>.log` (see ``LogFileName``) and
/// `snapshots/<model>/<file>.log.snap` (see ``SnapshotFile``). Model directories are created, and
/// made durable, when the directory is opened, or when a model is first served after that
/// (``openModels(_:)``), so creating an aggregate's log later needs only one directory sync.
///
/// Opening performs blocking system calls; call it from a thread that may block.
public final class DataDirectory: Sendable {
    /// The directory's path as given.
    public let path: String
    private let lockDescriptor: Int32
    /// The open directories of each model: its logs', its snapshots'. Models are added, never
    /// removed, while the directory is open.
    private let folders: Mutex<[String: (aggregates: Int32, snapshots: Int32)]>
    /// The global log's segments, open for the directory's lifetime.
    let globalSegments: GlobalSegments
    /// The global log's checkpoint, open for the directory's lifetime.
    let checkpointDescriptor: Int32
    /// The zero-filled space of the active segment beyond its records; ``close()`` waits for its fill.
    let globalLogSpace: GlobalLogSpace
    private let isClosed = Atomic(false)

    /// Opens (creating if needed) the data directory at `path` for `models` and locks it.
    ///
    /// - Throws: ``StorageError/locked(directory:owner:)`` if another process holds it, or
    ///   ``StorageError/io(operation:path:errno:)`` if it cannot be created or opened.
    public init(path: String, models: [String]) throws {
        let path = Self.trimmed(path)
        self.path = path
        try Self.makeDirectory(path)
        let lock = try Self.lock(path)

        var descriptors: [String: Int32] = [:]
        var snapshots: [String: Int32] = [:]
        var global: [Int32] = []
        var segments: GlobalSegments?
        do {
            global.append(try Self.openFile(path + "/global.checkpoint", in: path))
            segments = try Self.openGlobalSegments(path)
            try Self.makeDirectory(path + "/aggregates")
            for model in models {
                descriptors[model] = try Self.openDirectory(path + "/aggregates/" + model)
                snapshots[model] = try Self.openDirectory(path + "/snapshots/" + model)
            }
        } catch {
            (Array(descriptors.values) + Array(snapshots.values) + global).forEach { _ = Glibc.close($0) }
            segments?.close()
            Self.unlock(lock, path)
            throw error
        }
        lockDescriptor = lock
        folders = Mutex(Dictionary(uniqueKeysWithValues: descriptors.map { ($0.key, ($0.value, snapshots[$0.key]!)) }))
        checkpointDescriptor = global[0]
        globalSegments = segments!
        var activeInfo = stat()
        globalLogSpace = GlobalLogSpace(fileSize: fstat(segments!.active.descriptor, &activeInfo) == 0 ? Int(activeInfo.st_size) : 0)
    }

    deinit {
        // No fill of the global log's space can be pending: each holds the store, and so this.
        closeFiles()
    }

    /// Releases the lock and closes the directory; the store must be idle. A fill of the global
    /// log's zero-filled space in progress is stopped and waited for first, so nothing writes to
    /// the directory once another process can lock it. Idempotent.
    public func close() {
        globalLogSpace.close()
        closeFiles()
    }

    private func closeFiles() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        folders.withLock { folders in
            folders.values.forEach { _ = Glibc.close($0.aggregates); _ = Glibc.close($0.snapshots) }
        }
        globalSegments.close()
        _ = Glibc.close(checkpointDescriptor)
        Self.unlock(lockDescriptor, path)
    }

    /// The descriptor of `model`'s directory, for `openat` and directory syncs.
    func descriptor(of model: String) -> Int32? {
        folders.withLock { $0[model]?.aggregates }
    }

    /// The descriptor of `model`'s snapshot directory.
    func snapshotDescriptor(of model: String) -> Int32? {
        folders.withLock { $0[model]?.snapshots }
    }

    /// Opens (creating if needed) the directories of the `models` not open yet, for models first
    /// served after the directory was opened. Each model's log directory passes `check` before
    /// the model is added. Blocking.
    ///
    /// - Throws: ``StorageError/io(operation:path:errno:)`` if one cannot be created or opened,
    ///   or what `check` throws; the models added before it stay open.
    func openModels(_ models: [String], check: (String, Int32) throws -> Void) throws {
        for model in models where descriptor(of: model) == nil {
            let aggregates = try Self.openDirectory(path + "/aggregates/" + model)
            let snapshots: Int32
            do {
                try check(model, aggregates)
                snapshots = try Self.openDirectory(path + "/snapshots/" + model)
            } catch {
                _ = Glibc.close(aggregates)
                throw error
            }
            folders.withLock { $0[model] = (aggregates, snapshots) }
        }
    }

    /// The path of `key`'s snapshot, for messages.
    public func snapshotPath(of key: AggregateKey) -> String {
        "\(path)/snapshots/\(key.model)/\(SnapshotFile.fileName(for: key.id))"
    }

    /// The models whose directories are open, sorted.
    var models: [String] {
        folders.withLock { $0.keys.sorted() }
    }

    /// The path of `key`'s log, for messages.
    public func logPath(of key: AggregateKey) -> String {
        "\(path)/aggregates/\(key.model)/\(LogFileName.make(for: key.id))"
    }

    /// Whether any non-empty aggregate log exists. Reads directory entries only until it finds
    /// one; blocking.
    public func hasAggregateLogs() -> Bool {
        folders.withLock { $0.values.map(\.aggregates) }.contains { descriptor in
            let duplicate = dup(descriptor)
            guard duplicate >= 0, let stream = fdopendir(duplicate) else { return false }
            defer { closedir(stream) }
            rewinddir(stream)
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                // An empty log holds nothing (a batch whose commit failed can leave one behind).
                var info = stat()
                if name.hasSuffix(LogFileName.suffix), fstatat(dirfd(stream), name, &info, AT_SYMLINK_NOFOLLOW) != 0 || info.st_size > 0 {
                    return true
                }
            }
            return false
        }
    }

    /// The path of the global log's directory, for messages.
    public var globalLogPath: String { path + "/global" }

    /// The path of the segment file starting at position `first`.
    public func globalSegmentPath(first: UInt64) -> String {
        globalSegments.path(of: first)
    }

    /// Opens `global/` (creating it, with an empty first segment, for a new directory) and its
    /// newest segment. A `global.log` left by a build without segments becomes the first segment
    /// (it is renamed; its bytes are the same format).
    /// - Throws: ``StorageError/corrupt(path:offset:reason:)`` if both `global.log` and segments
    ///   exist, or a segment's file name is not in order with the others.
    private static func openGlobalSegments(_ path: String) throws -> GlobalSegments {
        let folder = path + "/global"
        let legacy = path + "/global.log"
        var firsts = try segmentFirsts(in: folder)
        if access(legacy, F_OK) == 0 {
            guard firsts.isEmpty else {
                throw StorageError.corrupt(path: legacy, offset: 0, reason: "both global.log and segments in global/ exist: restore the data directory from one backup")
            }
            try makeDirectory(folder)
            let target = folder + "/" + GlobalSegment.fileName(first: 1)
            guard rename(legacy, target) == 0 else { throw StorageError.io(operation: "rename", path: legacy, errno: errno) }
            try syncDirectory(folder)
            try syncDirectory(path)
            firsts = [1]
        }
        try makeDirectory(folder)
        let directory = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard directory >= 0 else { throw StorageError.io(operation: "open", path: folder, errno: errno) }
        do {
            if firsts.isEmpty { firsts = [1] }
            let active = try openFile(folder + "/" + GlobalSegment.fileName(first: firsts[firsts.count - 1]), in: folder)
            return GlobalSegments(path: folder, directoryDescriptor: directory, firsts: firsts, activeDescriptor: active)
        } catch {
            Glibc.close(directory)
            throw error
        }
    }

    /// The first positions of the segment files in `folder`, sorted; none if it does not exist.
    static func segmentFirsts(in folder: String) throws -> [UInt64] {
        guard let stream = opendir(folder) else {
            guard errno == ENOENT else { throw StorageError.io(operation: "open", path: folder, errno: errno) }
            return []
        }
        defer { closedir(stream) }
        var firsts: [UInt64] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let first = GlobalSegment.first(ofFileName: name) {
                firsts.append(first)
            }
        }
        return firsts.sorted()
    }

    /// Opens (creating, and making its entry durable, if needed) the file at `path` in `directory`.
    private static func openFile(_ path: String, in directory: String) throws -> Int32 {
        var descriptor = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        if descriptor < 0 && errno == ENOENT {
            descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard descriptor >= 0 else { throw StorageError.io(operation: "create", path: path, errno: errno) }
            do {
                try syncDirectory(directory)
            } catch {
                Glibc.close(descriptor)
                throw error
            }
        }
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        return descriptor
    }

    /// Creates (if needed, with its parents, durably) and opens the directory at `path`.
    private static func openDirectory(_ path: String) throws -> Int32 {
        try makeDirectory(path)
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        return descriptor
    }

    /// Creates `path` and any missing parents, making each new entry durable in its parent.
    static func makeDirectory(_ path: String) throws {
        guard mkdir(path, 0o750) == 0 else {
            let code = errno
            if code == ENOENT, let parent = parent(of: path), parent != path {
                try makeDirectory(parent)
                return try makeDirectory(path)
            }
            guard code == EEXIST else { throw StorageError.io(operation: "mkdir", path: path, errno: code) }
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw StorageError.io(operation: "mkdir", path: path, errno: ENOTDIR)
            }
            return
        }
        try syncDirectory(parent(of: path) ?? ".")
    }

    /// Makes the entries of the directory at `path` durable.
    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw StorageError.syncFailed(path: path, errno: errno) }
    }

    /// `path` without trailing slashes (`/` stays).
    static func trimmed(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") {
            path.removeLast()
        }
        return path
    }

    private static func parent(of path: String) -> String? {
        path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 }
    }

}
