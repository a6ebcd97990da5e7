import DequeModule
import NIOCore
import Synchronization

/// The replies of one connection in request order, between its reader and its writer.
///
/// Bounded twice: the reader waits while `capacity` requests are outstanding, or while replies
/// already computed but not yet written hold more than `byteBudget` bytes. So a client that
/// pipelines without reading, or never reads, holds bounded memory in the daemon however large
/// its replies are, and then stops being read (the socket's buffer pushes back on it).
final class ReplyQueue: Sendable {
    private struct State {
        var items = Deque<RequestRouter.PendingReply>()
        /// Bytes of replies computed and not yet written.
        var bufferedBytes = 0
        var finished = false
        var reader: CheckedContinuation<Void, Never>?
        var writer: CheckedContinuation<RequestRouter.PendingReply?, Never>?

        func hasRoom(capacity: Int, byteBudget: Int) -> Bool {
            items.count < capacity && bufferedBytes <= byteBudget
        }

        /// The waiting reader, if there is now room for it.
        mutating func readerToWake(capacity: Int, byteBudget: Int) -> CheckedContinuation<Void, Never>? {
            guard hasRoom(capacity: capacity, byteBudget: byteBudget) else { return nil }
            defer { reader = nil }
            return reader
        }
    }

    private let capacity: Int
    private let byteBudget: Int
    private let state = Mutex(State())

    init(capacity: Int, byteBudget: Int) {
        precondition(capacity > 0 && byteBudget > 0)
        self.capacity = capacity
        self.byteBudget = byteBudget
    }

    /// Appends a reply, first waiting for room.
    func push(_ reply: RequestRouter.PendingReply) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let hasRoom = state.withLock { state in
                if state.hasRoom(capacity: capacity, byteBudget: byteBudget) { return true }
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

    /// Counts a computed reply's bytes until ``written(_:)`` releases them.
    func computed(_ bytes: Int) {
        state.withLock { $0.bufferedBytes += bytes }
    }

    /// Releases the bytes of a reply that was written (or dropped).
    func written(_ bytes: Int) {
        let reader = state.withLock { state in
            state.bufferedBytes -= bytes
            return state.readerToWake(capacity: capacity, byteBudget: byteBudget)
        }
        reader?.resume()
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
                    return (.some(item), state.readerToWake(capacity: capacity, byteBudget: byteBudget))
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
