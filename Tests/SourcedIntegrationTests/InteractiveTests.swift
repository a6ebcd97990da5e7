import Foundation
import SourcedTestSupport
import Testing

/// `sourcectl` with no subcommand, at its prompt in a real terminal (tmux): what a user types
/// runs, Tab completes, Up recalls, the JSON toggle switches the printing, bad lines leave the
/// prompt standing, a restarted daemon is reconnected to, Ctrl-D leaves, and the history is there
/// for the next session.
@Suite struct InteractiveTests {
    @Test func thePromptRunsCompletesRecallsAndSurvivesBadLines() async throws {
        let daemon = try await DaemonProcess()
        let home = TemporaryDirectory("home")
        let session = try await Prompt(daemon: daemon, home: home)

        try await session.enter("exec counter c1 create", expecting: "counter c1  version 1")
        try await session.enter("get counter c1", expecting: #"state       {"count":0}"#)

        // Tab completes the subcommand, the model (from the daemon's models) and the command.
        try await session.waitForPrompt()
        try await session.terminal.type("ex", then: "Tab")
        try await session.waitForPrompt(typed: "exec ")
        try await session.terminal.type("co", then: "Tab")
        try await session.waitForPrompt(typed: "exec counter ")
        try await session.terminal.type("c1 incr", then: "Tab")
        try await session.waitForPrompt(typed: "exec counter c1 increment ")
        try await session.terminal.type("", then: "Enter")
        try await session.terminal.waitFor("ok  counter c1   version 2")

        // Up recalls the last line; Enter runs it again.
        try await session.waitForPrompt()
        try await session.terminal.type("", then: "Up")
        try await session.waitForPrompt(typed: "exec counter c1 increment")
        try await session.terminal.type("", then: "Enter")
        try await session.terminal.waitFor("ok  counter c1   version 3")

        // The JSON toggle: the daemon's exact replies, then tables again.
        try await session.enter("json on", expecting: "replies print as the daemon's exact JSON")
        try await session.enter("get counter c1", expecting: #"{"ok":true,"model":"counter","id":"c1","version":3,"state":{"count":2}}"#)
        try await session.enter(":json", expecting: "replies print as tables")

        // Bad lines: each says what is wrong, and the prompt stays.
        try await session.enter("frobnicate", expecting: "Error: Unexpected argument 'frobnicate'")
        try await session.enter("exec counter c1 explode", expecting: "unknown_command")
        try await session.enter("exec account 'a1 open", expecting: "the ' quote is not closed")
        try await session.enter("monitor", expecting: "monitor runs until Ctrl-C")

        // The daemon restarts: the next line says so, connects again and runs.
        try await session.waitForPrompt()
        #expect(await daemon.stop() == 0)
        let restarted = try await DaemonProcess(in: daemon.directory)
        try await session.enter("get counter c1", expecting: "the connection to sourced was lost")
        try await session.terminal.waitFor(#"state       {"count":2}"#)

        // Ctrl-D leaves with status 0.
        try await session.waitForPrompt()
        try await session.terminal.type("", then: "C-d")
        #expect(try await session.terminal.exitStatus() == 0)

        // The next session recalls the last line with Up.
        let next = try await Prompt(daemon: restarted, home: home)
        try await next.waitForPrompt()
        try await next.terminal.type("", then: "Up")
        try await next.waitForPrompt(typed: "get counter c1")
        try await next.terminal.type("", then: "C-u")
        try await next.enter("quit", expecting: "")
        #expect(try await next.terminal.exitStatus() == 0)
        #expect(await restarted.stop() == 0)
    }

    /// `sourcectl --socket` of a daemon, at its prompt in a terminal of its own, with `home` as
    /// its home (so its history file is the test's).
    struct Prompt {
        let terminal: TmuxTerminal
        let prompt: String

        init(daemon: DaemonProcess, home: TemporaryDirectory) async throws {
            prompt = "sourced:\(daemon.socketPath)> "
            terminal = try await TmuxTerminal(
                [DaemonProcess.executable("sourcectl"), "--socket", daemon.socketPath],
                environment: ["HOME": home.path, "XDG_STATE_HOME": "", "NO_COLOR": "1"]
            )
        }

        /// Waits until the prompt waits for input, with `typed` after it.
        func waitForPrompt(typed: String = "") async throws {
            try await terminal.waitForLastLine(prompt + typed)
        }

        /// Waits for the prompt, types `line` and Enter, and waits until the screen shows `text`
        /// once more than before.
        func enter(_ line: String, expecting text: String) async throws {
            try await waitForPrompt()
            let before = try await terminal.screen().components(separatedBy: text).count - 1
            try await terminal.type(line, then: "Enter")
            if !text.isEmpty {
                try await terminal.waitFor(text, count: before + 1)
            }
        }
    }
}
