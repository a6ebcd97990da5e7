import Dispatch
import Glibc
import Synchronization

/// The segments of the global log in `global/`, what of them readers may read, and the
/// descriptor of the active one.
///
/// Guarantees:
/// - Segments are in position order and contiguous: each one's first position follows the
///   previous one's last.
/// - Readers see a segment's length and last position only once its records are durable (the
///   commit thread publishes them after its `fdatasync`), and never a length beyond them.
/// - Only the commit thread appends to the active segment or rolls to a new one.
final class GlobalSegments: Sendable {
    /// Where a reader of the chains after a position starts.
    struct ReadPlan: Sendable {
        /// The first position of the segment to read, which names its file.
        var segment: UInt64
        /// A record boundary at or before the first chain wanted.
        var offset: Int
        /// The durable length of the segment: where reading stops.
        var end: Int
    }

    private struct State {
        var segments: [GlobalSegment]
        var activeDescriptor: Int32
    }

    /// `<data directory>/global`.
    let path: String
    /// The directory, for `openat` and directory syncs.
    let directoryDescriptor: Int32
    /// Where sealed segments get their index files, one at a time (``close()`` waits for it).
    let sealing = DispatchQueue(label: "sourced.global-seal")
    private let state: Mutex<State>

    /// The segments whose files are named for `firsts` (sorted), their sizes unknown until
    /// recovery reads them (``recovered(_:)``); the last one open as `activeDescriptor`.
    init(path: String, directoryDescriptor: Int32, firsts: [UInt64], activeDescriptor: Int32) {
        self.path = path
        self.directoryDescriptor = directoryDescriptor
        state = Mutex(State(segments: firsts.map { GlobalSegment(first: $0) }, activeDescriptor: activeDescriptor))
    }

    /// Every segment, oldest first.
    var segments: [GlobalSegment] {
        state.withLock { $0.segments }
    }

    /// The segment being written, and its open file.
    var active: (segment: GlobalSegment, descriptor: Int32) {
        state.withLock { ($0.segments[$0.segments.count - 1], $0.activeDescriptor) }
    }

    /// The first position the log holds (later than 1 once retention dropped segments).
    var earliest: UInt64 {
        state.withLock { $0.segments[0].first }
    }

    /// Removes the oldest segments from the list, while more than `keep` bytes are left in all,
    /// among those that end at or before `bound`; never the active segment or the newest sealed
    /// one (whose newest position table start-up reads).
    /// - Returns: the first positions of the segments removed, whose files the caller deletes.
    func dropOldest(endingBy bound: UInt64, keeping keep: Int) -> [UInt64] {
        state.withLock { state in
            var total = state.segments.reduce(0) { $0 + $1.length }
            var count = 0
            while count < state.segments.count - 2, total > keep, state.segments[count].last <= bound {
                total -= state.segments[count].length
                count += 1
            }
            defer { state.segments.removeFirst(count) }
            return state.segments.prefix(count).map(\.first)
        }
    }

    /// The position of the last durable record, 0 if there is none.
    var last: UInt64 {
        state.withLock { $0.segments[$0.segments.count - 1].last }
    }

    /// The path of the file of the segment that starts at `first`, for messages.
    func path(of first: UInt64) -> String {
        path + "/" + GlobalSegment.fileName(first: first)
    }

    /// Replaces what is known of the segments with what recovery read.
    func recovered(_ segments: [GlobalSegment]) {
        state.withLock { $0.segments = segments }
    }

    /// Lets `body` record durable records in the active segment. Commit thread only.
    func appendToActive(_ body: (inout GlobalSegment) -> Void) {
        state.withLock { body(&$0.segments[$0.segments.count - 1]) }
    }

    /// Makes the empty segment starting at `first`, open as `descriptor`, the active one.
    /// - Returns: the segment that was active until now, and its descriptor, which the caller closes.
    func roll(to descriptor: Int32, first: UInt64) -> (sealed: GlobalSegment, descriptor: Int32) {
        state.withLock { state in
            let sealed = (state.segments[state.segments.count - 1], state.activeDescriptor)
            state.segments.append(GlobalSegment(first: first))
            state.activeDescriptor = descriptor
            return sealed
        }
    }

    /// Where to read the chains after `position`; `nil` if none are durable after it.
    func plan(after position: UInt64) -> ReadPlan? {
        state.withLock { state in
            let wanted = position + 1
            guard wanted <= state.segments[state.segments.count - 1].last else { return nil }
            // The last segment starting at or before the wanted position.
            var low = 0
            var high = state.segments.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if state.segments[middle].first <= wanted { low = middle } else { high = middle - 1 }
            }
            let segment = state.segments[low]
            let offset = wanted < segment.first ? 0 : segment.seek(wanted)
            return ReadPlan(segment: segment.first, offset: offset, end: segment.length)
        }
    }

    /// Waits for the sealing in progress, then closes the active segment's file and the directory.
    func close() {
        sealing.sync {}
        state.withLock { state in
            _ = Glibc.close(state.activeDescriptor)
            state.activeDescriptor = -1
        }
        _ = Glibc.close(directoryDescriptor)
    }
}
