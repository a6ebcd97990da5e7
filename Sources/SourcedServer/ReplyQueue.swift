import DequeModule
import Synchronization

/// The replies of one connection in request order, between its reader and its writer.
///
/// Bounded: the reader waits while `capacity` replies are outstanding, so a client that pipelines
/// without reading, or never reads, holds at most `capacity` requests in the daemon and then stops
/// being read (the socket's buffer pushes back on it).
final class ReplyQueue: Sendable {
    private struct State {
        var items = Deque<RequestRouter.PendingReply>()
        var finished = false
        var reader: CheckedContinuation<Void, Never>?
        var writer: CheckedContinuation<RequestRouter.PendingReply?, Never>?
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Appends a reply, first waiting for room.
    func push(_ reply: RequestRouter.PendingReply) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let hasRoom = state.withLock { state in
                if state.items.count < capacity { return true }
                state.reader = continuation
                return false
            }
            if hasRoom { continuation.resume() }
        }
        let writer = state.withLock { state -> CheckedContinuation<RequestRouter.PendingReply?, Never>? in
            if let writer = state.writer {
                state.writer = nil
                return writer
            }
            state.items.append(reply)
            return nil
        }
        writer?.resume(returning: reply)
    }

    /// No more replies will be pushed; ``pop()`` returns `nil` once the queue is empty.
    func finish() {
        let writer = state.withLock { state -> CheckedContinuation<RequestRouter.PendingReply?, Never>? in
            state.finished = true
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume(returning: nil)
    }

    /// The next reply in order, waiting for one; `nil` after ``finish()`` once all are taken.
    func pop() async -> RequestRouter.PendingReply? {
        await withCheckedContinuation { continuation in
            let (item, reader) = state.withLock { state -> (RequestRouter.PendingReply??, CheckedContinuation<Void, Never>?) in
                if let item = state.items.popFirst() {
                    defer { state.reader = nil }
                    return (.some(item), state.reader)
                }
                if state.finished { return (.some(nil), nil) }
                state.writer = continuation
                return (nil, nil)
            }
            reader?.resume()
            if let item { continuation.resume(returning: item) }
        }
    }
}
