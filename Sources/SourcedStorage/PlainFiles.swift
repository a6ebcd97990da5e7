import Glibc

/// Whole-file reads and writes with plain system calls, for the offline tools (``LogChecker``,
/// ``OnlineBackup``), which work on a data directory without a store. Blocking: call them on a
/// thread that may block.
enum PlainFiles {
    /// The names in `folder` but `.` and `..`, sorted; none if `ifPresent` and it does not exist.
    static func names(in folder: String, ifPresent: Bool = false) throws -> [String] {
        guard let stream = opendir(folder) else {
            if ifPresent && errno == ENOENT { return [] }
            throw StorageError.io(operation: "list", path: folder, errno: errno)
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." {
                names.append(name)
            }
        }
        return names.sorted()
    }

    /// The bytes of the file at `path` (not following a symbolic link).
    static func read(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        return try read(descriptor, path)
    }

    /// The bytes of the file open as `descriptor`, as long as `fstat` says it is now.
    static func read(_ descriptor: Int32, _ path: String) throws -> [UInt8] {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw StorageError.io(operation: "stat", path: path, errno: errno) }
        let size = Int(info.st_size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            failure = AggregateStore.transfer(size) { done in pread(descriptor, buffer.baseAddress! + done, size - done, off_t(done)) }.errno
            count = failure == 0 ? size : 0
        }
        guard failure == 0 else { throw StorageError.io(operation: "read", path: path, errno: failure) }
        return bytes
    }

    /// Creates the file `path`, which must not exist, with `bytes`, and with `sync` `fsync`s it
    /// (its directory entry is the caller's to sync).
    static func create(_ path: String, with bytes: ArraySlice<UInt8>, sync: Bool = true) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard descriptor >= 0 else { throw StorageError.io(operation: "create", path: path, errno: errno) }
        defer { close(descriptor) }
        let failure = bytes.withUnsafeBytes { buffer in
            AggregateStore.transfer(buffer.count) { done in write(descriptor, buffer.baseAddress! + done, buffer.count - done) }.errno
        }
        guard failure == 0 else { throw StorageError.io(operation: "write", path: path, errno: failure) }
        guard !sync || fsync(descriptor) == 0 else { throw StorageError.syncFailed(path: path, errno: errno) }
    }
}
