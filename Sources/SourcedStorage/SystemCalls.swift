import CLinux
import Glibc

/// The system calls through which storage writes, syncs and opens logs.
///
/// Production uses ``posix``. Tests replace single calls to inject the failures a disk produces
/// (short writes, `ENOSPC`, `EIO` on write or sync, `EMFILE`), or the file system a directory
/// seems to lie on, and check that nothing wrong is acknowledged. A replacement that fails must
/// set `errno`, as the real call does.
public struct SystemCalls: Sendable {
    public var pwrite: @Sendable (_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ offset: off_t) -> Int
    /// `fdatasync`, or `fsync` when `full`.
    public var sync: @Sendable (_ descriptor: Int32, _ full: Bool) -> Int32
    public var openat: @Sendable (_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) -> Int32
    /// `syncfs`: everything written to the file system of `descriptor`.
    public var syncFileSystem: @Sendable (_ descriptor: Int32) -> Int32
    /// The `f_type` that `fstatfs` reports for the file system of `descriptor` (its magic number,
    /// such as `0x65735546` for FUSE), or `nil` if the call fails.
    public var fileSystemType: @Sendable (_ descriptor: Int32) -> UInt32?

    public init(
        pwrite: @escaping @Sendable (Int32, UnsafeRawPointer, Int, off_t) -> Int,
        sync: @escaping @Sendable (Int32, Bool) -> Int32,
        openat: @escaping @Sendable (Int32, String, Int32, mode_t) -> Int32,
        syncFileSystem: @escaping @Sendable (Int32) -> Int32,
        fileSystemType: @escaping @Sendable (Int32) -> UInt32? = SystemCalls.statFileSystemType
    ) {
        self.pwrite = pwrite
        self.sync = sync
        self.openat = openat
        self.syncFileSystem = syncFileSystem
        self.fileSystemType = fileSystemType
    }

    /// The real system calls.
    public static let posix = SystemCalls(
        pwrite: { Glibc.pwrite($0, $1, $2, $3) },
        sync: { $1 ? Glibc.fsync($0) : Glibc.fdatasync($0) },
        openat: { Glibc.openat($0, $1, $2, $3) },
        syncFileSystem: { sourced_syncfs($0) }
    )

    /// `fstatfs(2)`'s `f_type`: the file system's 32-bit magic number.
    @Sendable public static func statFileSystemType(_ descriptor: Int32) -> UInt32? {
        var type: UInt32 = 0
        return sourced_file_system_type(descriptor, &type) == 0 ? type : nil
    }
}
