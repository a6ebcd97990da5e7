/// What replacing one ``ModelCatalog`` by another changes, by model name, each list sorted.
///
/// Programs are compared by identity: a program kept from the old catalog (its file unchanged) is
/// `unchanged`, a new program under an old name is `changed`. Swift models never change while the
/// daemon runs, so they appear in none of the lists.
public struct ModelChanges: Hashable, Sendable, CustomStringConvertible {
    /// Programs whose name the old catalog did not have.
    public var added: [String]
    /// Programs whose name the old catalog had with another program.
    public var changed: [String]
    /// Programs of the old catalog whose name the new one does not have.
    public var removed: [String]
    /// Programs the new catalog keeps from the old one.
    public var unchanged: [String]

    public init(added: [String] = [], changed: [String] = [], removed: [String] = [], unchanged: [String] = []) {
        self.added = added
        self.changed = changed
        self.removed = removed
        self.unchanged = unchanged
    }

    /// From `old` to `new`.
    public init(from old: ModelCatalog, to new: ModelCatalog) {
        self.init()
        for entry in new.models {
            guard let program = entry.program else { continue }
            if let previous = old.program(named: program.name) {
                if previous === program { unchanged.append(program.name) } else { changed.append(program.name) }
            } else {
                added.append(program.name)
            }
        }
        removed = old.models.compactMap { $0.program?.name }.filter { new.program(named: $0) == nil }
        added.sort()
        changed.sort()
        removed.sort()
        unchanged.sort()
    }

    /// The models whose live aggregates run code that is no longer served: changed and removed.
    public var retired: Set<String> { Set(changed).union(removed) }

    /// E.g. `added: cart; changed: counter-lua; removed: none; unchanged: account-lua`.
    public var description: String {
        func list(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: ", ") }
        return "added: \(list(added)); changed: \(list(changed)); removed: \(list(removed)); unchanged: \(list(unchanged))"
    }
}
