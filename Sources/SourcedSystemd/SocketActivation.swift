import CSystemd
import Glibc

/// Sockets passed by systemd socket activation (`LISTEN_FDS`).
public enum SocketActivation {
    /// Why an inherited socket cannot be used.
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// The listening Unix stream socket systemd passed, or `nil` if none was passed.
    ///
    /// Call early in `main`: it consumes `LISTEN_FDS` (and unsets it for child processes).
    public static func listeningSocket() throws(Error) -> Int32? {
        let count = sd_listen_fds(1)
        guard count > 0 else {
            if count < 0 { throw Error(description: "cannot read the sockets passed by systemd (LISTEN_FDS): error \(-count)") }
            return nil
        }
        guard count == 1 else {
            throw Error(description: "systemd passed \(count) sockets; sourced listens on exactly one (check sourced.socket)")
        }
        let descriptor = SD_LISTEN_FDS_START
        guard sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
            throw Error(description: "the socket systemd passed is not a listening Unix stream socket (use ListenStream=/path)")
        }
        return descriptor
    }

    /// The path the Unix socket `descriptor` is bound to, `nil` if it has none (abstract or
    /// unnamed), for the log.
    public static func path(of descriptor: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) == 0 }
        }
        guard named, length > socklen_t(MemoryLayout<sa_family_t>.size) else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return path.isEmpty ? nil : path
    }
}
