/// Why the models were not reloaded. Nothing changed: the models served before are served still.
public enum ModelReloadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The daemon was started without a models directory, so there is nothing to re-read.
    case noModelsDirectory
    /// A model file did not load, or the files do not make a catalog (a name taken twice);
    /// `reason` names the file and, for a Lua error, the line.
    case refused(reason: String)
    /// The daemon is shutting down.
    case shuttingDown

    public var description: String {
        switch self {
        case .noModelsDirectory:
            "this daemon serves no models directory; start it with --models-dir (or SOURCED_MODELS_DIR) to load Lua models"
        case .refused(let reason):
            "models not reloaded, the models loaded before are served still: \(reason)"
        case .shuttingDown:
            "sourced is shutting down"
        }
    }
}
