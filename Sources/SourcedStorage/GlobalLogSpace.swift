import Dispatch
import Synchronization

/// The zero-filled space kept in the active global segment ahead of its logical end, and the
/// serial queue that writes it.
///
/// An `fdatasync` after a write that grows a file must also write the file's new size and block
/// map; into blocks that already hold data it writes only the data (a third less time per commit
/// on the development machine's disk, less than half on a journaled ext4; `fallocate` alone does
/// not help group commits, the blocks must have been written once: see `docs/storage-format.md`
/// for the figures). So the store writes zeros ahead of the global log's records, in
/// extensions that double with the file from ``minimumExtension`` up to the configured chunk, and
/// syncs them; commits then write into that space. The file is longer than the log: every byte
/// after the log's logical end is zero, which ``LogScan/Layout/preallocated`` reads as the log's
/// clean end (`docs/storage-format.md`, "Preallocated space").
///
/// Guarantees:
/// - Every fill runs on one serial queue, so fills never overlap one another. A background fill
///   runs one piece per queue item, so ``serially(_:)``, which a commit that cannot go on without
///   the space uses to fill what it needs, waits for one piece, not a whole extension.
/// - ``zeroedEnd`` only moves forward while the store runs (recovery resets it), and only past
///   zeros that are durable (sync mode `none` excepted), one piece at a time.
/// - ``close()`` returns once no fill runs, and none starts after it.
///
/// The I/O itself is the store's (`AggregateStore+GlobalLogSpace.swift`); this type is the
/// bookkeeping and the sizing rule.
final class GlobalLogSpace: Sendable {
    /// The smallest extension (unless the chunk is smaller), so that an empty store starts with
    /// 1 MiB, not a whole chunk, and a test suite starting hundreds of stores stays cheap.
    static let minimumExtension = 1 << 20
    /// Zeros are written and `fdatasync`ed in pieces of this size, each usable by commits as soon
    /// as it is durable. A commit whose `fdatasync` runs during a fill also waits for the zeros of
    /// the piece being written, so this bounds what a fill adds to a commit's latency: with 1 MiB
    /// pieces a commit's p99 went from 0.4 to 0.9–3 ms while fills ran, with 64 KiB it stayed
    /// within 10% of a growing file's (measured with 16 KiB commits, the log growing ~75 MiB/s).
    static let pieceSize = 64 << 10

    private struct State {
        var zeroedEnd: Int
        var backgroundFillQueued = false
        var failing = false
        var closed = false
        /// Counts the segments the space has moved to: a background fill of an earlier one stops.
        var segment = 0
    }

    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "sourced.global-log-space")

    /// A space that ends at `fileSize`, the global log file's size: the format guarantees zeros
    /// after the log's logical end, so the whole file beyond the log counts until recovery
    /// measures it (``reset(to:)``).
    init(fileSize: Int) {
        state = Mutex(State(zeroedEnd: fileSize))
    }

    /// Where the zero-filled space ends: every byte of the file from the log's logical end up to
    /// here is zero (or, past a failed fill, the log's records reach here).
    var zeroedEnd: Int {
        state.withLock { $0.zeroedEnd }
    }

    /// Whether ``close()`` was called: a fill stops at its next piece.
    var isClosed: Bool {
        state.withLock { $0.closed }
    }

    /// Sets the space's end after recovery measured the file: every byte from the log's logical
    /// end up to `end` is zero.
    func reset(to end: Int) {
        state.withLock { $0.zeroedEnd = end }
    }

    /// Moves the space to a new, empty segment: ``zeroedEnd`` is 0 and a background fill of the
    /// previous segment stops at its next piece. Called on the fill queue (``serially(_:)``).
    func startSegment() {
        state.withLock { state in
            state.zeroedEnd = 0
            state.segment += 1
        }
    }

    /// Moves the space's end to `end` if it lies beyond it: where a piece of zeros became durable,
    /// or where a commit that wrote past the space (after a failed fill) left the file's end.
    func advance(to end: Int) {
        state.withLock { $0.zeroedEnd = max($0.zeroedEnd, end) }
    }

    /// Runs `body` on the fill queue, after any fill queued or in progress, and waits for it.
    func serially<Result>(_ body: () throws -> Result) rethrows -> Result {
        try queue.sync(execute: body)
    }

    /// When the space left after `logicalEnd` has fallen below a quarter of the next extension
    /// and no background fill is queued, running or failing, claims one and returns its target:
    /// the caller must then start ``fillInBackground(_:)``, which ends the claim.
    func claimBackgroundFill(after logicalEnd: Int, chunkSize: Int) -> Int? {
        state.withLock { state in
            guard !state.backgroundFillQueued, !state.failing, !state.closed,
                  Self.isLow(logicalEnd: logicalEnd, zeroedEnd: state.zeroedEnd, chunkSize: chunkSize)
            else { return nil }
            state.backgroundFillQueued = true
            return Self.fillTarget(zeroedEnd: state.zeroedEnd, needed: logicalEnd, chunkSize: chunkSize)
        }
    }

    /// Runs the fill claimed with ``claimBackgroundFill(after:chunkSize:)`` on the fill queue,
    /// without waiting for it, one piece per queue item: `piece` writes one and returns whether
    /// another is to follow, which is then queued behind whatever was queued meanwhile. The fill
    /// ends, and another may be claimed, once `piece` returns false or the space is closed.
    /// A fill stops, too, once the space has moved to another segment (``startSegment()``).
    func fillInBackground(_ piece: @escaping @Sendable () -> Bool) {
        fillInBackground(segment: state.withLock { $0.segment }, piece)
    }

    private func fillInBackground(segment: Int, _ piece: @escaping @Sendable () -> Bool) {
        queue.async {
            if !self.isClosed, self.state.withLock({ $0.segment }) == segment, piece() {
                self.fillInBackground(segment: segment, piece)
            } else {
                self.state.withLock { $0.backgroundFillQueued = false }
            }
        }
    }

    /// Records the outcome of a fill. While fills fail (no space left, an I/O error) none is
    /// started in the background; one is tried again only when a commit needs the space.
    /// - Returns: whether the outcome differs from the previous fill's, so that a failing disk
    ///   is logged once, not on every commit.
    func recordFill(succeeded: Bool) -> Bool {
        state.withLock { state in
            defer { state.failing = !succeeded }
            return state.failing == succeeded
        }
    }

    /// Stops fills: waits for the one in progress (it stops at its next piece) and drops queued
    /// ones. Idempotent. Not to be called from a fill.
    func close() {
        state.withLock { $0.closed = true }
        queue.sync {}
    }

    // MARK: - Sizing

    /// How much the next extension adds to a space ending at `zeroedEnd`: as much as the file
    /// holds (so it doubles), at least ``minimumExtension``, at most `chunkSize`.
    static func extensionSize(zeroedEnd: Int, chunkSize: Int) -> Int {
        min(chunkSize, max(minimumExtension, zeroedEnd))
    }

    /// Whether the space after `logicalEnd` is below a quarter of the next extension: the point
    /// at which a background fill starts, so commits keep finding space while it runs.
    static func isLow(logicalEnd: Int, zeroedEnd: Int, chunkSize: Int) -> Bool {
        zeroedEnd - logicalEnd < extensionSize(zeroedEnd: zeroedEnd, chunkSize: chunkSize) / 4
    }

    /// The end of the extension after `zeroedEnd` that covers `needed` (the end of what a commit
    /// is about to write, or the log's logical end), leaving one extension beyond it.
    static func fillTarget(zeroedEnd: Int, needed: Int, chunkSize: Int) -> Int {
        max(zeroedEnd, needed) + extensionSize(zeroedEnd: zeroedEnd, chunkSize: chunkSize)
    }

    /// What a commit that needs the space up to `needed`, beyond `zeroedEnd`, fills itself: whole
    /// pieces up to `needed`, within that extension. The rest of the extension is left to a
    /// background fill.
    static func urgentTarget(zeroedEnd: Int, needed: Int, chunkSize: Int) -> Int {
        let pieces = (needed - zeroedEnd + pieceSize - 1) / pieceSize
        return min(zeroedEnd + pieces * pieceSize, fillTarget(zeroedEnd: zeroedEnd, needed: needed, chunkSize: chunkSize))
    }
}
