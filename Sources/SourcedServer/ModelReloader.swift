import SourcedCore

/// Loads the models a daemon serves again: what a `models` request with `"reload": true` runs
/// (and the daemon's SIGHUP).
public protocol ModelReloader: Sendable {
    /// Loads every model file again and, only if all of them load and make a catalog, serves
    /// the new catalog (``SourcedEngine/Engine/adopt(_:)``) and returns what changed. Reloads run
    /// one at a time.
    ///
    /// - Throws: ``ModelReloadError``; the models served before are served still.
    func reloadModels() async throws(ModelReloadError) -> ModelChanges
}
