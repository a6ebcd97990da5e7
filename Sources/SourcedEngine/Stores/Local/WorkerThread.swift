import Foundation
import NIOConcurrencyHelpers

/// A thread of its own that handles work items in the order they were enqueued, taking all
/// those waiting at once: what arrives while it works forms its next batch.
final class WorkerThread<Work: Sendable>: @unchecked Sendable {
    /// Guards `queued` and `stopRequested`; its value is 1 while either asks for the thread.
    private let inbox = ConditionLock(value: 0)
    private var queued: [Work] = []
    private var stopRequested = false
    /// Whether the thread is handling a batch.
    private var working = false
    /// 1 once the thread has ended.
    private let ended = ConditionLock(value: 0)

    /// Starts the thread, which calls `body` with each batch of work until ``stop()``.
    init(name: String, _ body: @escaping @Sendable ([Work]) -> Void) {
        // Named from inside: Foundation on Linux gives the kernel a name set before `start()` only
        // as "com.apple.root.default-qos", which is what `top -H` and `perf` would show.
        let thread = Thread { [self] in
            Thread.current.name = name
            run(body)
        }
        thread.start()
    }

    /// Whether nothing is queued and the thread is not working: a caller that is the only one to
    /// enqueue may then do the work itself, in order, instead of handing it over.
    var isIdle: Bool {
        inbox.lock()
        defer { inbox.unlock() }
        return queued.isEmpty && !working
    }

    /// Whether work waits for the thread's next batch.
    var hasQueuedWork: Bool {
        inbox.lock()
        defer { inbox.unlock() }
        return !queued.isEmpty
    }

    /// Hands `work` to the thread.
    func enqueue(_ work: Work) {
        inbox.lock()
        queued.append(work)
        inbox.unlock(withValue: 1)
    }

    /// Lets the thread handle what is queued, then ends it. Blocks until it has ended.
    func stop() {
        inbox.lock()
        stopRequested = true
        inbox.unlock(withValue: 1)
        ended.lock(whenValue: 1)
        ended.unlock()
    }

    private func run(_ body: ([Work]) -> Void) {
        while true {
            inbox.lock(whenValue: 1)
            let work = queued
            queued = []
            let stopping = stopRequested
            working = !work.isEmpty
            inbox.unlock(withValue: stopping ? 1 : 0)
            if !work.isEmpty {
                body(work)
                inbox.lock()
                working = false
                inbox.unlock()
            } else if stopping {
                break
            }
        }
        ended.lock()
        ended.unlock(withValue: 1)
    }
}
