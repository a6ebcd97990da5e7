import Foundation
import PackagePlugin

/// Writes `BuildCommit.swift`, the git commit the sources were built from, before every build of
/// the target it is applied to; the file is rewritten only when the commit changes, so a build
/// with nothing new recompiles nothing. Outside a git checkout the commit is `unknown`.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let file = output.appending(path: "BuildCommit.swift").path(percentEncoded: false)
        let package = context.package.directoryURL.path(percentEncoded: false)
        let script = """
            mkdir -p "$1"
            commit=$(git -C "$2" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
            if [ "$commit" != unknown ] && ! git -C "$2" diff --quiet HEAD -- 2>/dev/null; then commit="$commit+changes"; fi
            printf '/// The git commit this build was made from (`+changes`: with uncommitted changes).\\nlet buildCommit = "%s"\\n' "$commit" > "$3.new"
            if cmp -s "$3.new" "$3"; then rm "$3.new"; else mv "$3.new" "$3"; fi
            """
        return [
            .prebuildCommand(
                displayName: "Recording the build's git commit",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "build-info", output.path(percentEncoded: false), package, file],
                outputFilesDirectory: output
            )
        ]
    }
}
