import Glibc

/// Why the server cannot listen, with what to do about it.
public enum ServerError: Error, Sendable, CustomStringConvertible {
    /// A live daemon answers on the socket path; it is never taken over.
    case socketInUse(path: String)
    /// Something other than a socket exists at the socket path; it is never deleted.
    case notASocket(path: String)
    /// The path is longer than a Unix socket address can hold.
    case pathTooLong(path: String, limit: Int)
    /// A system call on the socket path failed.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .socketInUse(let path):
            "another sourced is answering on \(path); stop it or choose another --socket"
        case .notASocket(let path):
            "\(path) exists and is not a socket; remove it or choose another --socket"
        case .pathTooLong(let path, let limit):
            "socket path \(path) is \(path.utf8.count) bytes; Unix sockets allow at most \(limit); choose a shorter --socket"
        case .io(let operation, let path, let errno):
            "\(operation) \(path) failed: \(String(cString: strerror(errno))) (errno \(errno))"
        }
    }
}
