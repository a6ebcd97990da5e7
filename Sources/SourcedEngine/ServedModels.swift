import SourcedCore
import Synchronization

/// The catalog an engine serves now, shared by its shards and its server: replaced as a whole by
/// a reload (``Engine/adopt(_:)``), read under a lock held only to copy it.
final class ServedModels: Sendable {
    private let catalog: Mutex<ModelCatalog>

    init(_ catalog: ModelCatalog) {
        self.catalog = Mutex(catalog)
    }

    /// The catalog served now.
    var current: ModelCatalog {
        catalog.withLock { $0 }
    }

    /// Serves `new` from now on and returns what changed from the catalog served before; two
    /// calls never interleave, so each diff is against the catalog the other left.
    func replace(with new: ModelCatalog) -> ModelChanges {
        catalog.withLock { current in
            defer { current = new }
            return ModelChanges(from: current, to: new)
        }
    }
}
