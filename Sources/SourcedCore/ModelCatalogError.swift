/// Why a program cannot join a ``ModelCatalog``.
public enum ModelCatalogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name is not 1–64 bytes of `a`–`z`, `0`–`9`, `-` and `_`.
    case invalidName(String)
    /// Another model of the catalog, built in or loaded, has the name.
    case duplicateName(String)

    public var description: String {
        switch self {
        case .invalidName(let name):
            "invalid model name \"\(name)\": use 1 to 64 bytes of a-z, 0-9, - and _"
        case .duplicateName(let name):
            "model \"\(name)\" is defined twice (a built-in model or another file has this name); rename one"
        }
    }
}
