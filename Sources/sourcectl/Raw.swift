import ArgumentParser
import Foundation
import NIOCore
import SourcedClient
import SourcedJSON
import SourcedWire

struct Raw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send lines of JSON to the daemon as typed, and print its replies as sent.",
        discussion: """
            The protocol by hand (docs/protocol.md): each line is sent as it is, unchecked (blank \
            lines are skipped), and each line the daemon sends back is printed as it is.

            With standard input and output on a terminal, it prompts for lines, with history (Up, \
            Down), and waits for each reply; after a subscribe it prints the stream until the \
            daemon ends it (Ctrl-C ends sourcectl). A lost connection is reported and opened again \
            for the next line.

            Otherwise it reads standard input to its end, sending the lines pipelined (at most 64 \
            ahead of their replies), then prints the remaining replies until the daemon closes the \
            connection; exit status 0 if every line was answered, else 3. The --json flag changes \
            nothing here.
            """ + "\n\n" + examples([
            ("A session at the prompt", "sourcectl raw"),
            ("Requests from a file", "sourcectl raw < requests.ndjson"),
            ("Every event so far, then live", #"echo '{"op":"subscribe","from":0}' | sourcectl raw"#),
        ])
    )

    /// How many lines read from a pipe may wait for their replies at once.
    static let window = 64
    /// How long a reply may take: any time (a subscription may be quiet for long).
    static let replyTimeout = TimeAmount.hours(24 * 365)

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        if Terminal.standardInput.isTerminal && Terminal.standardOutput.isTerminal {
            await prompt()
        } else {
            try await relayStandardInput()
        }
    }

    /// Sends standard input's lines, pipelined, and prints every reply.
    private func relayStandardInput() async throws {
        let stream = try await connection.connect()
        let out = Terminal.standardOutput
        var sent = 0
        var answered = 0
        do {
            reading: while let line = readLine(strippingNewline: true) {
                guard !line.allSatisfy(\.isWhitespace) else { continue }
                try await stream.send(line: line)
                sent += 1
                while sent - answered >= Self.window {
                    guard let reply = try await stream.receiveLine(timeout: Self.replyTimeout) else { break reading }
                    out.write(reply + "\n")
                    answered += 1
                }
            }
            try await stream.finishSending()
            while let reply = try await stream.receiveLine(timeout: Self.replyTimeout) {
                out.write(reply + "\n")
                answered += 1
            }
        } catch {
            await stream.close()
            throw CommandFailure(message: "\(error) (\(answered) of \(sent) lines answered)", status: .unavailable)
        }
        await stream.close()
        guard answered >= sent else {
            throw CommandFailure(message: "sourced closed the connection with \(sent - answered) of \(sent) lines unanswered", status: .unavailable)
        }
    }

    /// Prompts for lines, sends each, and prints its reply (and a subscription's stream).
    private func prompt() async {
        let path = connection.socketPath
        let history = DefaultLocations(environment: ProcessInfo.processInfo.environment).stateDirectory + "/sourcectl_raw_history"
        let editor = LineEditor(historyPath: history, catalog: nil)
        let out = Terminal.standardOutput
        out.write(out.paint("sourcectl raw \(path): type requests as JSON lines, e.g. {\"op\":\"ping\"}; Ctrl-D leaves.", .dim) + "\n")
        var stream: SourcedConnection?
        var lost = false
        while let line = await editor.readLine(prompt: "sourced:\(path) raw> ") {
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            editor.remember(line)
            do {
                if stream == nil {
                    if lost { Terminal.standardError.write("connecting again to \(path)\n") }
                    stream = try await connection.connect()
                }
                guard let current = stream else { continue }
                try await current.send(line: line)
                guard let reply = try await current.receiveLine(timeout: Self.replyTimeout) else { throw SourcedConnection.Failure.closed }
                out.write(reply + "\n")
                if (try? SourcedConnection.decode(line))?["op"] == "subscribe", (try? SourcedConnection.decode(reply))?["ok"] == true {
                    while let event = try await current.receiveLine(timeout: Self.replyTimeout) {
                        out.write(event + "\n")
                    }
                    throw CommandFailure(message: "the daemon ended the stream", status: .unavailable)
                }
            } catch {
                await stream?.close()
                stream = nil
                lost = true
                Terminal.standardError.printError((error as? CommandFailure)?.message ?? "\(error)")
            }
        }
        out.write("\n")
        await stream?.close()
    }
}
