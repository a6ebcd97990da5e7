import CLinux
import DequeModule
import Foundation
import Glibc

/// Drives all of `bench`'s connections from one thread with `epoll`, as redis-benchmark drives
/// its clients, in the protocol a ``LoadProtocol`` gives (Sourced's or Redis's): the loop is the
/// same for both, so both servers are driven at the same cost per request.
///
/// Per command it costs one `write` and at most one `read`, and no thread or task hand-offs, so
/// the load generator takes as little as it can of the CPU it shares with the server. Replies are
/// read without blocking; commands are written with blocking writes, which cannot stall the loop
/// because a connection never has more than `--pipeline` (at most ``maximumPipeline``) commands
/// in flight: their requests and replies together fit in the socket's buffers even while the
/// daemon stops reading (it does past its own pipeline depth, 256 by default).
final class LoadLoop {
    /// The deepest pipeline a connection may keep; deeper ones deadlocked (1024 did: the loop
    /// blocked writing while the daemon waited for it to read).
    static let maximumPipeline = 256
    /// How long the loop waits for any reply before it gives up on the daemon.
    static let replyTimeoutMilliseconds: Int32 = 60_000

    private struct Connection {
        var descriptor: Int32
        var picker: KeyPicker
        var inFlight = Deque<(sent: UInt64, aggregate: Int)>()
        var replies = ReplyBuffer()
    }

    private var connections: [Connection] = []
    private let speaking: LoadProtocol
    private var result: ClientResult
    /// The bytes of the request being sent, reused from one request to the next.
    private var request = [UInt8]()

    /// Connects `pickers.count` connections to the socket at `path`; connection `i` picks its
    /// aggregates with `pickers[i]` and sends `speaking`'s request for each.
    init(path: String, pickers: [KeyPicker], aggregates: Int, speaking: LoadProtocol) throws(CommandFailure) {
        self.speaking = speaking
        result = ClientResult(aggregates: aggregates)
        for picker in pickers {
            connections.append(Connection(descriptor: try Self.connect(path, server: speaking.server), picker: picker))
        }
    }

    deinit {
        for connection in connections {
            close(connection.descriptor)
        }
    }

    /// Keeps `pipeline` commands in flight on every connection while `load` allows, and returns
    /// what was measured once every reply is in.
    func run(pipeline: Int, load: Load) throws(CommandFailure) -> ClientResult {
        let poll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard poll >= 0 else { throw Self.failure("create", "an epoll instance") }
        defer { close(poll) }
        for index in connections.indices {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = UInt64(index)
            guard epoll_ctl(poll, EPOLL_CTL_ADD, connections[index].descriptor, &event) == 0 else {
                throw Self.failure("watch", "a connection with epoll")
            }
            while connections[index].inFlight.count < pipeline, load.take() {
                try send(on: index)
            }
        }
        var waiting = connections.reduce(0) { $0 + $1.inFlight.count }
        var events = [epoll_event](repeating: epoll_event(), count: connections.count)
        while waiting > 0 {
            let ready = epoll_wait(poll, &events, Int32(events.count), Self.replyTimeoutMilliseconds)
            if ready < 0, errno == EINTR { continue }
            guard ready >= 0 else { throw Self.failure("wait for", "replies") }
            guard ready > 0 else {
                throw CommandFailure(message: "no reply from \(speaking.server) for \(Self.replyTimeoutMilliseconds / 1000) s", status: .unavailable)
            }
            for event in events[..<Int(ready)] {
                let index = Int(event.data.u64)
                let before = connections[index].inFlight.count
                try receive(on: index, pipeline: pipeline, load: load)
                waiting += connections[index].inFlight.count - before
            }
        }
        return result
    }

    private func send(on index: Int) throws(CommandFailure) {
        let aggregate = connections[index].picker.next()
        connections[index].inFlight.append((Bench.nanoseconds(), aggregate))
        request.removeAll(keepingCapacity: true)
        speaking.request(aggregate, &request)
        try Self.write(request, to: connections[index].descriptor, server: speaking.server)
    }

    /// Reads what connection `index` has, handles each complete reply, and sends the next commands.
    private func receive(on index: Int, pipeline: Int, load: Load) throws(CommandFailure) {
        let descriptor = connections[index].descriptor
        let count = connections[index].replies.read(from: descriptor)
        if count < 0, errno == EAGAIN || errno == EINTR { return }
        guard count >= 0 else { throw Self.failure("read from", "\(speaking.server)'s socket") }
        guard count > 0 else { throw CommandFailure(message: "\(speaking.server) closed a connection", status: .unavailable) }
        var replies = 0
        while let outcome = connections[index].replies.next(length: speaking.replyLength, speaking.outcome) {
            let (sent, aggregate) = connections[index].inFlight.removeFirst()
            result.latency.record((Bench.nanoseconds() - sent) / 1000)
            result.record(outcome, aggregate: aggregate)
            load.completed()
            replies += 1
        }
        for _ in 0..<replies where connections[index].inFlight.count < pipeline && load.take() {
            try send(on: index)
        }
    }

    /// Writes all of `bytes` to the socket `descriptor`, blocking until it has.
    static func write(_ bytes: [UInt8], to descriptor: Int32, server: String) throws(CommandFailure) {
        var sent = 0
        while sent < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + sent, $0.count - sent) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw failure("write to", "\(server)'s socket") }
            sent += written
        }
    }

    /// A blocking stream connection to the Unix socket at `path`, where `server` listens.
    static func connect(_ path: String, server: String) throws(CommandFailure) -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw failure("create a socket for", path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path) - 1
        guard path.utf8.count <= capacity else {
            close(descriptor)
            throw CommandFailure(message: "socket path \(path) is longer than \(capacity) bytes", status: .unavailable)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let error = failure("connect to", path, hint: errno == ENOENT || errno == ECONNREFUSED ? " (is \(server) running there? pass its socket with --socket)" : "")
            close(descriptor)
            throw error
        }
        return descriptor
    }

    /// The failure of a system call that just set `errno`.
    static func failure(_ operation: String, _ what: String, hint: String = "") -> CommandFailure {
        CommandFailure(message: "cannot \(operation) \(what): \(String(cString: strerror(errno)))\(hint)", status: .unavailable)
    }

    /// Runs `body` on a new thread of its own, never one of the Swift concurrency pool, and
    /// returns its result without blocking the caller's thread.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
