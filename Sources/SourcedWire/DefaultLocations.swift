/// Where `sourced` keeps its data and socket when not told, and so where `sourcectl` looks.
///
/// Both resolve in the same order, so a client finds a daemon started with no flags:
/// 1. `--socket` / `--data-dir`, or `SOURCED_SOCKET` / `SOURCED_DATA_DIR`;
/// 2. under systemd, `$RUNTIME_DIRECTORY/sourced.sock` and `$STATE_DIRECTORY`;
/// 3. for a user, `$XDG_STATE_HOME/sourced` (default `~/.local/state/sourced`) holding `data/`
///    and `sourced.sock`.
public struct DefaultLocations: Sendable {
    public var socketPath: String
    public var dataDirectory: String
    /// The user's folder for Sourced's state, `$XDG_STATE_HOME/sourced` (default
    /// `~/.local/state/sourced`), whatever the socket and data directory were set to.
    public var stateDirectory: String

    /// Resolves the defaults from `environment` (usually the process environment).
    public init(environment: [String: String]) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "."
        let stateHome = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.local/state"
        let base = stateHome + "/sourced"
        stateDirectory = base
        socketPath = environment["SOURCED_SOCKET"]
            ?? environment["RUNTIME_DIRECTORY"].map { Self.first($0) + "/sourced.sock" }
            ?? base + "/sourced.sock"
        dataDirectory = environment["SOURCED_DATA_DIR"]
            ?? environment["STATE_DIRECTORY"].map(Self.first)
            ?? base + "/data"
    }

    /// systemd passes several directories separated by colons; the first is ours.
    private static func first(_ list: String) -> String {
        String(list.split(separator: ":").first ?? Substring(list))
    }
}
