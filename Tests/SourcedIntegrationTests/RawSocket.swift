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
        let socket = try connect(to: path, timeoutSeconds: timeoutSeconds)
        defer { close(socket) }
        try write(bytes, to: socket)
        shutdown(socket, Int32(SHUT_WR))
        var received: [UInt8] = []
        while let chunk = try read(socket) {
            received.append(contentsOf: chunk)
        }
        return received
    }

    /// A connected socket whose blocking calls give up after `timeoutSeconds`; close it.
    static func connect(to path: String, timeoutSeconds: Int) throws -> Int32 {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw Failure(description: "connect \(path): errno \(errno)")
        }
        return socket
    }

    /// Writes all of `bytes`.
    static func write(_ bytes: [UInt8], to socket: Int32) throws {
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(socket, $0.baseAddress, $0.count) }
            guard count > 0 else {
                throw Failure(description: "write stopped after \(written) of \(bytes.count) bytes: errno \(errno) (the daemon stopped reading)")
            }
            written += count
        }
    }

    /// What one `read` returns; `nil` at the end of the stream.
    static func read(_ socket: Int32) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(socket, $0.baseAddress, $0.count) }
        if count == 0 { return nil }
        guard count > 0 else { throw Failure(description: "read failed: errno \(errno)") }
        return Array(buffer[..<count])
    }

    /// Reads until `count` lines have arrived (or the stream ends) and returns them.
    static func readLines(_ count: Int, from socket: Int32) throws -> [String] {
        var received: [UInt8] = []
        while received.count(where: { $0 == 0x0A }) < count, let chunk = try read(socket) {
            received.append(contentsOf: chunk)
        }
        return String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
