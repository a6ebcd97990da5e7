import CLinux
import DequeModule
import Foundation
import Glibc

/// Drives all of `bench`'s connections from one thread with `epoll`, as redis-benchmark drives
/// its clients.
///
/// Per command it costs one `write` and at most one `read`, and no thread or task hand-offs, so
/// the load generator takes as little as it can of the CPU it shares with the daemon. Replies are
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
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        /// The unread bytes are `buffer[start..<end]`.
        var start = 0
        var end = 0

        /// Reads what the socket holds without blocking; returns what `recv` returned.
        mutating func read() -> Int {
            if start == end {
                (start, end) = (0, 0)
            } else if start > 0 {
                let (from, count) = (start, end - start)
                buffer.withUnsafeMutableBytes { _ = memmove($0.baseAddress!, $0.baseAddress! + from, count) }
                (start, end) = (0, count)
            }
            if end == buffer.count {
                buffer.append(contentsOf: repeatElement(0, count: buffer.count))
            }
            let (descriptor, end) = (descriptor, end)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + end, $0.count - end, Int32(MSG_DONTWAIT)) }
            if count > 0 { self.end += count }
            return count
        }

        /// The next complete line without its newline, if one has arrived.
        mutating func nextLine() -> String? {
            guard let newline = buffer[start..<end].firstIndex(of: 0x0A) else { return nil }
            let line = String(decoding: buffer[start..<newline], as: UTF8.self)
            start = newline + 1
            return line
        }
    }

    private var connections: [Connection] = []
    private let command: (Int) -> String
    private var result: ClientResult

    /// Connects `pickers.count` connections to the socket at `path`; connection `i` picks its
    /// aggregates with `pickers[i]` and sends `command(aggregate)` for each.
    init(path: String, pickers: [KeyPicker], aggregates: Int, command: @escaping (Int) -> String) throws(CommandFailure) {
        self.command = command
        result = ClientResult(aggregates: aggregates)
        for picker in pickers {
            connections.append(Connection(descriptor: try Self.connect(path), picker: picker))
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
                throw CommandFailure(message: "no reply from the daemon for \(Self.replyTimeoutMilliseconds / 1000) s", status: .unavailable)
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
        var bytes = Array(command(aggregate).utf8)
        bytes.append(0x0A)
        let descriptor = connections[index].descriptor
        var sent = 0
        while sent < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + sent, $0.count - sent) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw Self.failure("write to", "the daemon's socket") }
            sent += written
        }
    }

    /// Reads what connection `index` has, handles each complete reply, and sends the next commands.
    private func receive(on index: Int, pipeline: Int, load: Load) throws(CommandFailure) {
        let count = connections[index].read()
        if count < 0, errno == EAGAIN || errno == EINTR { return }
        guard count >= 0 else { throw Self.failure("read from", "the daemon's socket") }
        guard count > 0 else { throw CommandFailure(message: "the daemon closed a connection", status: .unavailable) }
        var replies = 0
        while let line = connections[index].nextLine() {
            let (sent, aggregate) = connections[index].inFlight.removeFirst()
            result.latency.record((Bench.nanoseconds() - sent) / 1000)
            result.record(line, aggregate: aggregate)
            load.completed()
            replies += 1
        }
        for _ in 0..<replies where connections[index].inFlight.count < pipeline && load.take() {
            try send(on: index)
        }
    }

    private static func connect(_ path: String) throws(CommandFailure) -> Int32 {
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
            let error = failure("connect to", path)
            close(descriptor)
            throw error
        }
        return descriptor
    }

    private static func failure(_ operation: String, _ what: String) -> CommandFailure {
        CommandFailure(message: "cannot \(operation) \(what): \(String(cString: strerror(errno)))", status: .unavailable)
    }

    /// Runs `body` on a new thread of its own, never one of the Swift concurrency pool, and
    /// returns its result without blocking the caller's thread.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
