import Glibc

/// A storage failure, with a message that says what happened and what to do.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another process holds the data directory's lock.
    case locked(directory: String, owner: String)
    /// A system call failed; nothing was acknowledged and any partial write was rolled back.
    case io(operation: String, path: String, errno: Int32)
    /// `fdatasync` or `fsync` failed. Whether the data reached the disk is unknown, and the kernel
    /// may have dropped the dirty pages, so the store stops accepting writes for good.
    case syncFailed(path: String, errno: Int32)
    /// A failed write could not be rolled back: whether its records survive is unknown, so the
    /// store stops accepting writes for good.
    case rollbackFailed(path: String, errno: Int32)
    /// A write was refused because an earlier sync failed (see ``syncFailed(path:errno:)``).
    case stopped(cause: String)
    /// A log has a damaged record followed by valid data; it is left untouched.
    case corrupt(path: String, offset: Int, reason: String)
    /// A chain's events do not fit in one record.
    case recordTooLarge(bytes: Int, limit: Int)
    /// The store is shutting down.
    case shutDown
    /// A model first served while the daemon runs has its directory on a file system whose logs
    /// the checkpoint does not make durable as they are (`syncfs` distrusted, or another file
    /// system than the models' at start).
    case modelDirectoryNeedsRestart(path: String, reason: String)
    /// Chains were asked for that retention dropped from the global log; it begins at `earliest`.
    case positionDropped(earliest: UInt64)

    public var description: String {
        switch self {
        case .locked(let directory, let owner):
            "data directory \(directory) is in use by another sourced (\(owner)); stop it or choose another data directory"
        case .io(let operation, let path, let errno):
            "\(operation) \(path) failed: \(Self.message(errno))"
        case .syncFailed(let path, let errno):
            "fsync of \(path) failed: \(Self.message(errno)); outcome of pending writes unknown, storage stopped; restart to recover"
        case .rollbackFailed(let path, let errno):
            "a failed write to \(path) could not be rolled back: \(Self.message(errno)); outcome unknown, storage stopped; restart to recover"
        case .stopped(let cause):
            "storage stopped after an earlier failure (\(cause)); restart sourced to recover"
        case .corrupt(let path, let offset, let reason):
            "\(path) is corrupt at byte \(offset): \(reason); the log was left untouched"
        case .recordTooLarge(let bytes, let limit):
            "the events of one chain take \(bytes) bytes; at most \(limit) fit in one record"
        case .shutDown:
            "storage is shut down"
        case .modelDirectoryNeedsRestart(let path, let reason):
            "\(path) \(reason); restart sourced to serve this model"
        case .positionDropped(let earliest):
            "the global log no longer holds those positions (dropped by retention); it begins at position \(earliest)"
        }
    }

    static func message(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}

/// When appended records are made durable. Each mode's durability argument is in
/// `docs/storage-format.md`.
public enum SyncMode: String, Sendable, CaseIterable {
    /// The default. A command is acknowledged once the global log, which holds its events, is
    /// `fdatasync`ed (group-committed across all aggregates). Aggregate logs are written at once and
    /// synced in the background before the checkpoint passes them; recovery re-appends from the
    /// global log whatever an aggregate log lost.
    case always
    /// As `always`, and the aggregate's own log is also `fdatasync`ed before the acknowledgement:
    /// one more sync per batch, for installations that want every file durable at once.
    case everyLog = "every-log"
    /// Never sync; the kernel writes back when it likes. A crash of the machine (not only of
    /// sourced) can lose acknowledged commands. For tests and throw-away data only.
    case none
}
