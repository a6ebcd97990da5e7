/// What `sourced --version` and `sourcectl --version` print.
public enum BuildInfo {
    /// The release this source tree is.
    public static let version = "0.5.0"
    /// The git commit the binary was built from (written by the `BuildInfoPlugin` at build time).
    public static let commit = buildCommit

    /// `0.5.0 (commit 0123456789ab)`.
    public static var description: String {
        "\(version) (commit \(commit))"
    }
}
