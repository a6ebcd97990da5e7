/// Why a Lua model file cannot be loaded.
public enum LuaModelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The models directory cannot be listed.
    case unreadableDirectory(path: String, reason: String)
    /// A model file cannot be read.
    case unreadableFile(path: String, reason: String)
    /// The file does not compile, fails while it runs, or does not return a valid model table.
    case invalid(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadableDirectory(let path, let reason):
            "cannot list the models directory \(path): \(reason)"
        case .unreadableFile(let path, let reason):
            "cannot read the model file \(path): \(reason)"
        case .invalid(let path, let reason):
            "invalid Lua model \(path): \(reason) (docs/models.md, \"Lua models\")"
        }
    }
}
