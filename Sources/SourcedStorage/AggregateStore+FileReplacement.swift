import Glibc

/// Replacing a small file atomically: snapshots and the global log's index files.
extension AggregateStore {
    /// Replaces the file `name` in the directory open as `folder` (at `folderPath`, for
    /// messages) with `bytes`, atomically: they are written under a temporary name, synced,
    /// renamed over the old file and the directory synced (no syncs with sync `none`). A reader
    /// sees the old file or the new one. On failure the temporary file is removed and the old
    /// file stays.
    ///
    /// A failed sync does not stop the store: the files replaced this way are verified when read
    /// and never trusted over the logs.
    func replaceFile(_ name: String, in folder: Int32, at folderPath: String, with bytes: [UInt8]) throws {
        let temporary = name + ".tmp"
        let path = folderPath + "/" + name
        let calls = configuration.systemCalls
        let descriptor = calls.openat(folder, temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard descriptor >= 0 else { throw StorageError.io(operation: "create", path: path + ".tmp", errno: errno) }
        var failure: StorageError?
        let written = bytes.withUnsafeBytes { buffer in
            Self.transfer(buffer.count) { done in calls.pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(done)) }
        }
        if written.errno != 0 {
            failure = .io(operation: "write", path: path + ".tmp", errno: written.errno)
        } else if configuration.sync != .none, calls.sync(descriptor, true) != 0 {
            failure = .syncFailed(path: path + ".tmp", errno: errno)
        }
        close(descriptor)
        if failure == nil, renameat(folder, temporary, folder, name) != 0 {
            failure = .io(operation: "rename", path: path, errno: errno)
        }
        if let failure {
            unlinkat(folder, temporary, 0)
            throw failure
        }
        if configuration.sync != .none, calls.sync(folder, true) != 0 {
            throw StorageError.syncFailed(path: folderPath, errno: errno)
        }
    }
}
