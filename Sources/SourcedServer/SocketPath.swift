import Glibc

/// Prepares a filesystem path for a listening Unix socket. Blocking: run on a thread that may block.
enum SocketPath {
    /// The longest path `sockaddr_un` holds, without its terminating NUL.
    static let maximumLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Makes `path` free to bind: creates its directory (mode 0700) if missing, and removes a
    /// stale socket left by a crash. A socket a live process answers on, or a file that is not a
    /// socket, is left alone and reported.
    static func prepare(_ path: String) throws(ServerError) {
        guard path.utf8.count <= maximumLength else { throw .pathTooLong(path: path, limit: maximumLength) }
        try makeParent(of: path)
        var info = stat()
        guard lstat(path, &info) == 0 else {
            guard errno == ENOENT else { throw .io(operation: "stat", path: path, errno: errno) }
            return
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
        guard !isAnswering(path) else { throw .socketInUse(path: path) }
        guard unlink(path) == 0 || errno == ENOENT else { throw .io(operation: "remove stale socket", path: path, errno: errno) }
    }

    /// Whether a process accepts connections on the socket at `path`.
    static func isAnswering(_ path: String) -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8.prefix(maximumLength))
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0
    }

    private static func makeParent(of path: String) throws(ServerError) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let parent = String(path[..<slash])
        var info = stat()
        if stat(parent, &info) == 0 { return }
        try makeParent(of: parent)
        guard mkdir(parent, 0o700) == 0 || errno == EEXIST else {
            throw .io(operation: "create directory", path: parent, errno: errno)
        }
    }
}
