import Glibc
import Synchronization

extension DataDirectory {
    /// The paths of the data directories this process holds open.
    static let openInThisProcess = Mutex<Set<String>>([])

    /// Takes the `LOCK` file of the data directory at `path` and writes this process's pid into it.
    ///
    /// A lock held by another process fails at once. A lock this process released a moment ago
    /// (it is the recorded owner, and holds no ``DataDirectory`` on `path`) is waited for, up to
    /// ``releaseWait``: a child the process spawned meanwhile shares the lock's descriptor from
    /// its fork until its `exec` closes it (`O_CLOEXEC`).
    /// - Throws: ``StorageError/locked(directory:owner:)`` or ``StorageError/io(operation:path:errno:)``.
    static func lock(_ path: String) throws -> Int32 {
        let lockPath = path + "/LOCK"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard lock >= 0 else { throw StorageError.io(operation: "open", path: lockPath, errno: errno) }
        let ownPid = "pid \(getpid())"
        let deadline = ContinuousClock.now + releaseWait
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let owner = readOwner(lock)
            let releasedHere = owner == ownPid && !openInThisProcess.withLock { $0.contains(path) }
            if code == EWOULDBLOCK, releasedHere, ContinuousClock.now < deadline {
                usleep(1_000)
                continue
            }
            Glibc.close(lock)
            if code == EWOULDBLOCK {
                throw StorageError.locked(directory: path, owner: owner)
            }
            throw StorageError.io(operation: "flock", path: lockPath, errno: code)
        }
        openInThisProcess.withLock { _ = $0.insert(path) }
        let pid = Array("\(ownPid)\n".utf8)
        _ = ftruncate(lock, 0)
        _ = pwrite(lock, pid, pid.count, 0)
        return lock
    }

    /// Releases the lock ``lock(_:)`` took on `path`.
    static func unlock(_ descriptor: Int32, _ path: String) {
        _ = Glibc.close(descriptor)
        openInThisProcess.withLock { _ = $0.remove(path) }
    }

    /// How long ``lock(_:)`` waits for a lock this process released.
    static let releaseWait = Duration.seconds(10)

    private static func readOwner(_ descriptor: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        let text = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
        return text.split(separator: "\n").first.map(String.init) ?? "unknown pid"
    }
}
