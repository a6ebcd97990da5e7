import ArgumentParser
import Foundation
import SourcedClient
import SourcedWire

/// `sourcectl` with no subcommand on a terminal: a prompt that takes a subcommand's words as
/// they would follow `sourcectl` on a command line (`exec counter c1 create`), parses and prints
/// them exactly as the command line does, sends every request over one connection kept open, and
/// reports any error and prompts again: only `quit`, `exit`, Ctrl-D (or Ctrl-C) end it.
struct InteractiveSession {
    /// The subcommands the prompt runs. `watch`, `monitor` and `raw` are not among them: they
    /// run until Ctrl-C, which would end the session too.
    static let subcommands: [any ParsableCommand.Type] = [
        Exec.self, Get.self, Events.self, List.self, Query.self, Models.self, Stats.self, Ping.self, Bench.self,
    ]
    /// The words the session itself understands, with what they do.
    static let sessionWords = [
        ("help [SUBCOMMAND]", "this list, or a subcommand's options and examples"),
        ("json [on|off]", "print the daemon's exact replies (on) or tables (off); json or :json alone toggles"),
        ("quit, exit, Ctrl-D", "leave (Ctrl-C too)"),
    ]

    private let connection: HeldConnection
    private var json: Bool
    private var catalog: CompletionCatalog
    private let editor: LineEditor
    private let historyPath: String

    /// A session with the daemon at `options`' socket, printing JSON if `options.json`.
    init(options: ConnectionOptions, environment: [String: String] = ProcessInfo.processInfo.environment) {
        connection = HeldConnection(path: options.socketPath)
        json = options.json
        let names = Self.subcommands.map { $0._commandName }
        // Not exit: ex<Tab> completes exec.
        catalog = CompletionCatalog(firstWords: names + ["help", "json", ":json", "quit"], subcommands: names)
        historyPath = DefaultLocations(environment: environment).stateDirectory + "/sourcectl_history"
        editor = LineEditor(historyPath: historyPath, catalog: catalog)
    }

    /// Prompts and runs lines until the user leaves.
    mutating func run() async {
        let out = Terminal.standardOutput
        out.write(out.paint("sourcectl \(connection.path): type help for what you can type; Tab completes, Ctrl-D leaves.", .dim) + "\n")
        await learnModels(reporting: true)
        while let line = await editor.readLine(prompt: "sourced:\(connection.path)> ") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            editor.remember(trimmed)
            do {
                guard try await handle(ShellWords.split(trimmed)) else { break }
            } catch {
                Self.report(error)
            }
            if !catalog.knowsModels {
                await learnModels(reporting: false)
            }
        }
        out.write("\n")
        await connection.close()
    }

    /// Runs one line's words; `false` to leave.
    private mutating func handle(_ words: [String]) async throws -> Bool {
        switch words.first {
        case "quit", "exit":
            return false
        case "help" where words.count == 1:
            Terminal.standardOutput.write(help())
        case "json", ":json":
            switch words.dropFirst().first {
            case nil: json.toggle()
            case "on": json = true
            case "off": json = false
            case let other?: throw CommandFailure(message: "json takes on or off, not \(other)", status: .usage)
            }
            Terminal.standardOutput.write(json ? "replies print as the daemon's exact JSON\n" : "replies print as tables\n")
        case "watch", "monitor", "raw":
            throw CommandFailure(message: "\(words[0]) runs until Ctrl-C, which would end this session too: run sourcectl \(words[0]) in a shell", status: .usage)
        default:
            try await runSubcommand(words)
        }
        return true
    }

    /// Parses `words` as the command line `sourcectl WORDS` (with this session's socket, and
    /// `--json` while JSON is on) and runs it over the session's connection.
    private func runSubcommand(_ words: [String]) async throws {
        var arguments = words
        if Self.subcommands.contains(where: { $0._commandName == words[0] }) {
            var options: [String] = []
            if json && !words.contains("--json") { options.append("--json") }
            if !words.contains(where: { $0 == "--socket" || $0.hasPrefix("--socket=") }) { options += ["--socket", connection.path] }
            arguments.insert(contentsOf: options, at: 1)
        }
        let command = try SourceCtl.parseAsRoot(arguments)
        try await ConnectionOptions.$held.withValue(connection) {
            try await SourceCtl.execute(command)
        }
    }

    /// Fetches the models and their commands for Tab, once it succeeds.
    private mutating func learnModels(reporting: Bool) async {
        do {
            catalog.learn(models: try SourcedConnection.decode(try await connection.exchange(["op": "models"])))
            editor.complete(from: catalog)
        } catch {
            if reporting { Self.report(error) }
        }
    }

    /// What `help` prints.
    private func help() -> String {
        let out = Terminal.standardOutput
        let subcommands = Self.subcommands.map { [out.paint($0._commandName, .bold), $0.configuration.abstract] }
        let words = Self.sessionWords.map { [out.paint($0.0, .bold), $0.1] }
        return """
            Type a subcommand's words as after sourcectl on a command line, options included \
            (exec counter c1 create, get counter c1 --json); quote as in a shell.

            """ + Terminal.table(subcommands) + "\n" + Terminal.table(words) + """

            Tab completes subcommands, models and their commands; Up and Down walk the history, \
            kept in \(historyPath).

            """
    }

    /// Prints a line's failure: help on standard output, errors on standard error.
    private static func report(_ error: any Error) {
        if let failure = error as? CommandFailure {
            Terminal.standardError.printError(failure.message)
        } else if SourceCtl.exitCode(for: error) == .success {
            Terminal.standardOutput.write(SourceCtl.fullMessage(for: error) + "\n")
        } else {
            Terminal.standardError.write(SourceCtl.fullMessage(for: error) + "\n")
        }
    }
}
