import Glibc
import SourcedStorage
import Synchronization

/// System calls for a store that fail on demand, telling writes of zeros (the global log's
/// preallocation) from writes of records (never all zeros).
final class StorageFaults: Sendable {
    /// While non-zero, every write of zeros fails with this `errno`.
    let zeroWriteErrno = Atomic<Int32>(0)
    /// The next write of records fails with `errno`, after writing `partial` bytes.
    let recordWriteFailure = Mutex<(errno: Int32, partial: Int)?>(nil)
    /// The next `fdatasync`/`fsync` fails with this `errno`.
    let syncFailure = Mutex<Int32?>(nil)
    /// `fdatasync`/`fsync` calls so far, failed or not.
    let syncCalls = Atomic<Int>(0)

    var systemCalls: SystemCalls {
        SystemCalls(
            pwrite: { descriptor, bytes, count, offset in
                let buffer = UnsafeRawBufferPointer(start: bytes, count: count)
                if buffer.allSatisfy({ $0 == 0 }) {
                    let code = self.zeroWriteErrno.load(ordering: .relaxed)
                    guard code == 0 else {
                        errno = code
                        return -1
                    }
                } else if let failure = self.recordWriteFailure.withLock({ $0 }) {
                    if failure.partial > 0 {
                        self.recordWriteFailure.withLock { $0 = (failure.errno, 0) }
                        return Glibc.pwrite(descriptor, bytes, min(failure.partial, count), offset)
                    }
                    self.recordWriteFailure.withLock { $0 = nil }
                    errno = failure.errno
                    return -1
                }
                return Glibc.pwrite(descriptor, bytes, count, offset)
            },
            sync: { descriptor, full in
                self.syncCalls.add(1, ordering: .relaxed)
                if let code = self.syncFailure.withLock({ failure in defer { failure = nil }; return failure }) {
                    errno = code
                    return -1
                }
                return full ? Glibc.fsync(descriptor) : Glibc.fdatasync(descriptor)
            },
            openat: SystemCalls.posix.openat,
            syncFileSystem: SystemCalls.posix.syncFileSystem
        )
    }
}
