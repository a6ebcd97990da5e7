import Foundation
import Glibc
import SourcedTestSupport

/// A program running in a real terminal: a detached session on a `tmux` server of its own
/// (its own socket in a temporary directory, so tests running at once never share one), driven
/// with `send-keys` and read back with `capture-pane`. The server is stopped when the terminal
/// is released.
final class TmuxTerminal: Sendable {
    /// Where Debian's `tmux` package installs it (`scripts/install-deps` installs it).
    static let executable = "/usr/bin/tmux"

    private let directory = TemporaryDirectory("tmux")
    private let socket: String
    /// The server, run in the foreground (`-D`) as a child of the test: a server tmux starts by
    /// itself daemonizes and keeps the descriptor Foundation watches for its client's exit, so
    /// that client would never be seen to end.
    private let server = Process()

    /// Starts `command` in an 200×50 terminal, with `environment` added to its own; the pane
    /// stays after the program exits, so its exit status can be read. Throws, naming the
    /// package, if tmux is not installed.
    init(_ command: [String], environment: [String: String] = [:]) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TerminalFailure(message: "\(Self.executable) is missing: the interactive tests need tmux (scripts/install-deps installs it)")
        }
        socket = directory.file("s")
        let configuration = directory.file("tmux.conf")
        try "set-option -g remain-on-exit on\nset-option -g history-limit 5000\n".write(toFile: configuration, atomically: true, encoding: .utf8)
        // The test process blocks signals in its threads and its children inherit that: a tmux
        // server that did would never hear SIGCHLD, nor see its programs exit. Perl (Debian's
        // essential perl-base) unblocks them and resets their handling before starting it.
        server.executableURL = URL(fileURLWithPath: "/usr/bin/perl")
        server.arguments = [
            "-MPOSIX", "-e", "sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die; $SIG{$_} = 'DEFAULT' for keys %SIG; exec @ARGV or die",
            Self.executable, "-S", socket, "-f", configuration, "-D",
        ]
        server.standardInput = FileHandle.nullDevice
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while try await !tmuxSucceeds(["show-options", "-g", "exit-empty"]) {
            guard server.isRunning, ContinuousClock.now < deadline else {
                throw TerminalFailure(message: "the tmux server did not answer within 30 s (running: \(server.isRunning))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let variables = environment.sorted { $0.key < $1.key }.flatMap { ["-e", "\($0.key)=\($0.value)"] }
        try await tmux(["new-session", "-d", "-s", "main", "-x", "200", "-y", "50"] + variables + command)
    }

    /// Kills the server; its programs lose their terminal and end.
    deinit {
        if server.isRunning {
            Glibc.kill(server.processIdentifier, SIGKILL)
        }
    }

    /// Types `text` literally, then presses `keys` (tmux key names: `Enter`, `Tab`, `Up`, `C-d`).
    func type(_ text: String, then keys: String...) async throws {
        if !text.isEmpty {
            try await tmux(["send-keys", "-t", "main", "-l", text])
        }
        if !keys.isEmpty {
            try await tmux(["send-keys", "-t", "main"] + keys)
        }
    }

    /// Everything the terminal shows and scrolled away, wrapped lines joined, trailing blanks dropped.
    func screen() async throws -> String {
        try await tmux(["capture-pane", "-p", "-J", "-S", "-", "-t", "main"])
    }

    /// Waits until the screen shows `text` (`count` times or more), polling with a generous
    /// deadline; throws with the screen as it was.
    @discardableResult
    func waitFor(_ text: String, count: Int = 1, timeout: Duration = .seconds(30)) async throws -> String {
        try await poll("the screen showing \(text) \(count) time(s)", timeout: timeout) { screen, _ in
            screen.components(separatedBy: text).count - 1 >= count
        }
    }

    /// Waits until the last line that is not blank is `line`: a prompt waiting, with what has
    /// been typed after it.
    func waitForLastLine(_ line: String, timeout: Duration = .seconds(30)) async throws {
        let expected = line.trimmingTrailingBlanks
        try await poll("the last line being \(expected)", timeout: timeout) { _, last in last == expected }
    }

    /// The program's exit status, once it has exited.
    ///
    /// tmux learns it from SIGCHLD, which it can miss: Debian's tmux is linked with libutempter,
    /// whose `utempter_remove_record` sets SIGCHLD to its default action (discard) while it waits
    /// for its helper, and tmux calls it when the program's terminal closes, which the program's
    /// exit does just before it sends SIGCHLD. A SIGCHLD that arrives in that window is lost
    /// (tmux issue 311): the program stays an unreaped zombie and its pane dead without a status.
    /// So while the pane is dead (tmux has seen the terminal close, and its libutempter call is
    /// over) without a status, the server is sent SIGCHLD: it then reaps every child that has
    /// exited, and a program still exiting sends its own SIGCHLD, now outside that window.
    func exitStatus(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            let pane = try await tmux(["display-message", "-p", "-t", "main", "#{pane_dead} #{pane_dead_status}"])
            let fields = pane.split(whereSeparator: \.isWhitespace)
            if fields.first == "1" {
                if let status = fields.dropFirst().first.flatMap({ Int32($0) }) {
                    return status
                }
                Glibc.kill(server.processIdentifier, SIGCHLD)
            }
            guard ContinuousClock.now < deadline else {
                throw TerminalFailure(message: "the program did not exit within \(timeout); screen:\n\(try await screen())")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @discardableResult
    private func poll(_ what: String, timeout: Duration, _ holds: (String, String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let screen = try await screen()
            if holds(screen, Self.lastLine(of: screen)) { return screen }
            guard ContinuousClock.now < deadline else {
                throw TerminalFailure(message: "waited \(timeout) for \(what); the screen:\n\(screen)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The last line of `screen` that is not blank.
    private static func lastLine(of screen: String) -> String {
        screen.split(separator: "\n").last { !$0.allSatisfy(\.isWhitespace) }.map { String($0).trimmingTrailingBlanks } ?? ""
    }

    @discardableResult
    private func tmux(_ arguments: [String]) async throws -> String {
        let run = try await ToolRun.run(executable: Self.executable, ["-S", socket] + arguments, input: nil, in: directory)
        guard run.status == 0 else {
            throw TerminalFailure(message: "tmux \(arguments.joined(separator: " ")) exited \(run.status): \(run.errors)")
        }
        return run.output
    }

    private func tmuxSucceeds(_ arguments: [String]) async throws -> Bool {
        try await ToolRun.run(executable: Self.executable, ["-S", socket] + arguments, input: nil, in: directory).status == 0
    }
}

/// tmux failed, or the terminal did not show what a test waited for.
struct TerminalFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension String {
    /// The string without blanks at its end.
    fileprivate var trimmingTrailingBlanks: String {
        String(reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
