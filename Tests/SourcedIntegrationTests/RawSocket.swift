import Glibc

/// A blocking Unix-socket client, for tests that must control exactly when bytes are written
/// and read.
enum RawSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Connects to `path`, writes all of `bytes` before reading anything, then half-closes and
    /// reads until the daemon closes. Each blocking call gives up after `timeoutSeconds`, so a
    /// daemon that stops reading fails the caller instead of hanging it.
    static func writeAllThenRead(_ bytes: [UInt8], to path: String, timeoutSeconds: Int) throws -> [UInt8] {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(socket) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect \(path): errno \(errno)") }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(socket, $0.baseAddress, $0.count) }
            guard count > 0 else {
                throw Failure(description: "write stopped after \(written) of \(bytes.count) bytes: errno \(errno) (the daemon stopped reading)")
            }
            written += count
        }
        shutdown(socket, Int32(SHUT_WR))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            if count == 0 { return received }
            guard count > 0 else { throw Failure(description: "read failed after \(received.count) bytes: errno \(errno)") }
            received.append(contentsOf: buffer[..<count])
        }
    }
}
