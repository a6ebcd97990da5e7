import Glibc

/// Puts a ``LogRepair`` on disk, durably, without losing what it replaces.
///
/// - A repair that keeps every record in place (``LogRepair/changesOnlyTail``) cuts the file at
///   its unchanged length, appends, and syncs the file. A crash in between leaves a shorter log,
///   which the next load repairs again from the global log.
/// - Any other repair, and a log that does not exist, is written beside the log as
///   `NAME.repair`, synced, renamed over the log, and the directory synced: a crash leaves the
///   old log or the new one, never a mix.
/// - Replaced bytes that the repaired log does not hold (``LogRepair/dropsData``) are kept, and
///   durable, before the log changes: a cut tail is copied to `NAME.torn-OFFSET`, a rewritten log
///   stays whole as `NAME.damaged-OFFSET` (a second link to the old file). If that name is taken,
///   `.1`, `.2`, ... is added.
///
/// The store writes with its own system calls and syncs (a failed sync stops it); `sourced check
/// --repair` with plain ones.
struct LogRepairWriter {
    /// What a write did.
    struct Written {
        /// Where the replaced bytes were kept, if they were.
        var keptAside: String?
        /// Whether the log is a new file: descriptors of the old one read the old bytes.
        var replacedFile: Bool
    }

    var systemCalls: SystemCalls
    /// `fdatasync`, or `fsync` when `full`, of a descriptor; throws if it fails.
    var sync: (_ descriptor: Int32, _ path: String, _ full: Bool) throws -> Void

    /// Writes `repair` of `original`, the log `name` in `directory` (open as `descriptor`, `nil`
    /// if the log does not exist).
    func write(
        _ repair: LogRepair,
        over original: [UInt8],
        log name: String,
        in directory: Int32,
        at directoryPath: String,
        descriptor: Int32?
    ) throws -> Written {
        let path = directoryPath + "/" + name
        let unchanged = repair.unchangedLength
        guard let descriptor, repair.changesOnlyTail else {
            let temporary = name + ".repair"
            let file = systemCalls.openat(directory, temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
            guard file >= 0 else { throw StorageError.io(operation: "create", path: directoryPath + "/" + temporary, errno: errno) }
            var renamed = false
            defer {
                close(file)
                if !renamed { unlinkat(directory, temporary, 0) }
            }
            try write(repair.bytes[...], to: file, at: 0, directoryPath + "/" + temporary)
            try sync(file, directoryPath + "/" + temporary, false)
            var aside: String?
            if descriptor != nil, repair.dropsData {
                aside = try keep("\(name).damaged-\(unchanged)", in: directory, at: directoryPath) { linkat(directory, name, directory, $0, 0) }
            }
            guard renameat(directory, temporary, directory, name) == 0 else {
                throw StorageError.io(operation: "rename", path: directoryPath + "/" + temporary, errno: errno)
            }
            renamed = true
            try sync(directory, directoryPath, true)
            return Written(keptAside: aside, replacedFile: true)
        }
        var aside: String?
        if repair.dropsData {
            aside = try keep("\(name).torn-\(unchanged)", in: directory, at: directoryPath) { name in
                let file = systemCalls.openat(directory, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
                guard file >= 0 else { return -1 }
                defer { close(file) }
                try write(original[unchanged...], to: file, at: 0, directoryPath + "/" + name)
                try sync(file, directoryPath + "/" + name, false)
                return 0
            }
        }
        if original.count > unchanged, ftruncate(descriptor, off_t(unchanged)) != 0 {
            throw StorageError.io(operation: "truncate", path: path, errno: errno)
        }
        try write(repair.bytes[unchanged...], to: descriptor, at: unchanged, path)
        try sync(descriptor, path, false)
        return Written(keptAside: aside, replacedFile: false)
    }

    /// Creates a file beside the log with `create`, under `base` or, if that is taken, the first
    /// free `base.N`, then syncs the directory. `create` returns 0, or -1 with `errno` set.
    private func keep(_ base: String, in directory: Int32, at directoryPath: String, _ create: (String) throws -> Int32) throws -> String {
        var name = base
        var attempt = 0
        while try create(name) != 0 {
            guard errno == EEXIST else { throw StorageError.io(operation: "create", path: directoryPath + "/" + name, errno: errno) }
            attempt += 1
            name = "\(base).\(attempt)"
        }
        try sync(directory, directoryPath, true)
        return directoryPath + "/" + name
    }

    /// Writes `bytes` at `offset`, retrying short writes.
    private func write(_ bytes: ArraySlice<UInt8>, to descriptor: Int32, at offset: Int, _ path: String) throws {
        let failure = bytes.withUnsafeBytes { buffer in
            AggregateStore.transfer(buffer.count) { done in
                systemCalls.pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }.errno
        }
        guard failure == 0 else { throw StorageError.io(operation: "write", path: path, errno: failure) }
    }
}
