import Foundation
import NIOConcurrencyHelpers

/// A thread of its own that handles work items in the order they were enqueued, taking all
/// those waiting at once: what arrives while it works forms its next batch.
final class WorkerThread<Work: Sendable>: @unchecked Sendable {
    /// Guards `queued` and `stopRequested`; its value is 1 while either asks for the thread.
    private let inbox = ConditionLock(value: 0)
    private var queued: [Work] = []
    private var stopRequested = false
    /// 1 once the thread has ended.
    private let ended = ConditionLock(value: 0)

    /// Starts the thread, which calls `body` with each batch of work until ``stop()``.
    init(name: String, _ body: @escaping @Sendable ([Work]) -> Void) {
        let thread = Thread { [self] in run(body) }
        thread.name = name
        thread.start()
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
            inbox.unlock(withValue: stopping ? 1 : 0)
            if !work.isEmpty {
                body(work)
            } else if stopping {
                break
            }
        }
        ended.lock()
        ended.unlock(withValue: 1)
    }
}
