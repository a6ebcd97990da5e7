import ArgumentParser
import SourcedBuildInfo
import Foundation
import Glibc

/// `sourcectl`: use and operate Sourced from a shell.
@main
struct SourceCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sourcectl",
        abstract: "Use and operate a Sourced daemon from the shell.",
        discussion: """
            Finds the daemon's socket like sourced chooses it: --socket, else $SOURCED_SOCKET, else \
            ~/.local/state/sourced/sourced.sock, else /run/sourced/sourced.sock.

            The options --socket and --json may also come before the subcommand \
            (sourcectl --socket /run/sourced/sourced.sock stats).

            With no subcommand, and standard input and output on a terminal, sourcectl prompts: \
            type a subcommand's words as on a command line (exec counter c1 create), help for the \
            list, json on|off to switch between exact replies and tables, quit or Ctrl-D to leave. \
            It keeps one connection open, completes subcommands, models and commands with Tab, and \
            keeps a history (~/.local/state/sourced/sourcectl_history, the last 1000 lines). \
            Without a terminal it prints this help; sourcectl raw reads requests from a pipe.

            Exit status: 0 success, 1 rejected or other domain error, 2 usage error (also unknown \
            model, command or op, invalid id), 3 cannot connect, not allowed to (permissions, \
            forbidden), or daemon unavailable.
            """,
        version: BuildInfo.description,
        subcommands: [Exec.self, Get.self, Events.self, List.self, Watch.self, Monitor.self, Query.self, Models.self, Stats.self, Ping.self, Bench.self, Raw.self]
    )

    /// Runs the command, mapping every failure to the documented exit status; with no
    /// subcommand on a terminal, runs an ``InteractiveSession`` instead.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            let (options, rest) = Self.splitConnectionOptions(arguments)
            if rest.isEmpty && Terminal.standardInput.isTerminal && Terminal.standardOutput.isTerminal {
                var session = InteractiveSession(options: try ConnectionOptions.parse(options))
                await session.run()
                return
            }
            try await execute(parseAsRoot(Self.subcommandFirst(arguments)))
        } catch let failure as CommandFailure {
            Terminal.standardError.printError(failure.message)
            Glibc.exit(failure.status.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Glibc.exit(ExitStatus.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}

extension SourceCtl {
    /// Runs a parsed command, whether it is asynchronous or not.
    static func execute(_ command: any ParsableCommand) async throws {
        if var command = command as? any AsyncParsableCommand {
            try await command.run()
        } else {
            var command = command
            try command.run()
        }
    }

    /// `arguments` with the connection options given before the subcommand (`--socket PATH`,
    /// `--socket=PATH`, `--json`) moved after it, where the subcommand parses them.
    static func subcommandFirst(_ arguments: [String]) -> [String] {
        let (leading, rest) = splitConnectionOptions(arguments)
        guard !leading.isEmpty, let subcommand = rest.first else { return arguments }
        return [subcommand] + leading + rest.dropFirst()
    }

    /// The connection options at the start of `arguments`, and the arguments after them.
    static func splitConnectionOptions(_ arguments: [String]) -> (options: [String], rest: ArraySlice<String>) {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--json" || argument.hasPrefix("--socket=") {
                index += 1
            } else if argument == "--socket", index + 1 < arguments.count {
                index += 2
            } else {
                break
            }
        }
        return (Array(arguments[..<index]), arguments[index...])
    }
}

/// The documented exit statuses.
enum ExitStatus: Int32 {
    case success = 0
    /// The daemon refused: a rejection, a wrong version, a corrupt aggregate.
    case domain = 1
    /// The request was malformed: bad arguments, unknown model, command or op, invalid id.
    case usage = 2
    /// The daemon could not be reached or cannot serve now.
    case unavailable = 3
}

/// Ends the command with a message on standard error and an exit status.
struct CommandFailure: Error {
    var message: String
    var status: ExitStatus
    /// Whether sending the same request again may succeed: the daemon could not be reached, the
    /// connection was lost, or it answered `unavailable` or `outcome_unknown`.
    var retryable = false
}

/// Formats a command's examples for its `--help`.
func examples(_ items: [(String, String)]) -> String {
    "Examples:\n" + items.map { "  \($0.0):\n    \($0.1)" }.joined(separator: "\n")
}
