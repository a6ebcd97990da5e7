import NIOCore
import Synchronization

/// The clients of `monitor`: each gets one line per request the daemon answers.
///
/// Lines reach a watcher in batches, one write per batch per event loop tick. A watcher that
/// does not read is never buffered for without bound: while its connection is over its high
/// water mark, batches for it are dropped and counted, and the next batch it gets starts with
/// `{"dropped":N}`.
final class RequestMonitor: Sendable {
    final class Watcher: Sendable {
        let channel: any Channel
        /// Lines dropped since the last batch this watcher got.
        let dropped = Atomic<Int>(0)

        init(channel: any Channel) {
            self.channel = channel
        }
    }

    private let watchers = Mutex<[Watcher]>([])
    private let watching = Atomic<Int>(0)

    /// Whether anyone watches: requests are described only then.
    var isWatched: Bool {
        count > 0
    }

    /// The monitors connected now.
    var count: Int {
        watching.load(ordering: .relaxed)
    }

    func add(_ channel: any Channel) -> Watcher {
        let watcher = Watcher(channel: channel)
        watchers.withLock { $0.append(watcher) }
        watching.add(1, ordering: .relaxed)
        return watcher
    }

    func remove(_ watcher: Watcher) {
        let removed = watchers.withLock { watchers in
            let before = watchers.count
            watchers.removeAll { $0 === watcher }
            return before - watchers.count
        }
        watching.subtract(removed, ordering: .relaxed)
    }

    /// Sends `lines` (`lineCount` of them) to every watcher; callable from any loop.
    func send(_ lines: ByteBuffer, lineCount: Int) {
        for watcher in watchers.withLock({ $0 }) {
            guard watcher.channel.isWritable else {
                watcher.dropped.add(lineCount, ordering: .relaxed)
                continue
            }
            let dropped = watcher.dropped.exchange(0, ordering: .relaxed)
            if dropped > 0 {
                var batch = ByteBuffer(string: "{\"dropped\":\(dropped)}\n")
                batch.writeImmutableBuffer(lines)
                watcher.channel.writeAndFlush(batch, promise: nil)
            } else {
                watcher.channel.writeAndFlush(lines, promise: nil)
            }
        }
    }
}
