import Glibc
import HeapModule
import SourcedCore

extension DataDirectory {
    /// A page of a model's aggregate ids.
    public struct IDPage: Sendable, Equatable {
        /// Ids in byte order of their UTF-8, all after the page's `after`.
        public var ids: [AggregateID]
        /// Whether ids after the last of this page exist.
        public var more: Bool

        public init(ids: [AggregateID], more: Bool) {
            self.ids = ids
            self.more = more
        }
    }

    /// The ids of `model`'s aggregates that have recorded something, in byte order of their
    /// UTF-8, after `after` (from the first if `nil`), at most `limit` of them.
    ///
    /// Reads the model's directory once: time grows with the number of aggregates of the model,
    /// memory only with `limit`. Aggregates whose log is empty (nothing recorded) are left out;
    /// one whose first chain commits while the directory is read may be missing from the page.
    /// Blocking: call it from a thread that may block.
    public func aggregateIDs(of model: String, after: AggregateID?, limit: Int) throws -> IDPage {
        precondition(limit > 0, "a page holds at least one id")
        let folder = path + "/aggregates/" + model
        guard let stream = opendir(folder) else {
            if errno == ENOENT { return IDPage(ids: [], more: false) }
            throw StorageError.io(operation: "list", path: folder, errno: errno)
        }
        defer { closedir(stream) }
        let directory = dirfd(stream)
        let cursor = after.map { Array($0.rawValue.utf8) }
        // The `limit + 1` smallest ids after the cursor: one more than the page says whether more follow.
        var smallest = Heap<ListedID>()
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let id = LogFileName.id(fromFileName: name) else { continue }
            let listed = ListedID(id: id)
            if let cursor, !cursor.lexicographicallyPrecedes(listed.bytes) { continue }
            if smallest.count > limit, let largest = smallest.max, !(listed < largest) { continue }
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size > 0 else { continue }
            smallest.insert(listed)
            if smallest.count > limit + 1 { smallest.removeMax() }
        }
        let ordered = smallest.unordered.sorted()
        return IDPage(ids: ordered.prefix(limit).map(\.id), more: ordered.count > limit)
    }

    /// An id ordered by the bytes of its UTF-8: the order pages are cut in.
    private struct ListedID: Comparable {
        let id: AggregateID
        let bytes: [UInt8]

        init(id: AggregateID) {
            self.id = id
            bytes = Array(id.rawValue.utf8)
        }

        static func < (lhs: ListedID, rhs: ListedID) -> Bool {
            lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
        }

        static func == (lhs: ListedID, rhs: ListedID) -> Bool {
            lhs.bytes == rhs.bytes
        }
    }
}
