import Foundation
import Glibc
import Synchronization

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`, collecting what the daemon sends.
///
/// Receives on a dedicated thread, so no Swift concurrency thread ever blocks in `recv`.
final class NotifyListener: Sendable {
    let path: String
    private let descriptor: Int32
    private let messages = Mutex<[String]>([])
    private let stopped = Atomic(false)

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in receive() }
        thread.start()
    }

    deinit {
        close(descriptor)
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    /// Every notification so far, one entry per datagram.
    var received: [String] {
        messages.withLock { $0 }
    }

    /// Whether any datagram so far holds the line `assignment` (e.g. `READY=1`).
    func hasReceived(_ assignment: String) -> Bool {
        received.contains { $0.split(separator: "\n").contains(Substring(assignment)) }
    }

    private func receive() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopped.load(ordering: .relaxed) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count > 0 {
                let text = String(decoding: buffer[..<count], as: UTF8.self)
                messages.withLock { $0.append(text) }
            }
        }
    }
}
