import ArgumentParser
import Foundation
import SourcedClient
import SourcedJSON

struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every request the daemon answers, as it answers it.",
        discussion: """
            One line per request from every client: time, operation, model/id for aggregate \
            requests, outcome (ok or the error code) and how long it took from being read to its \
            reply. Commands, states and events are not shown. A monitor that reads too slowly \
            loses lines, and is told how many ("dropped"). Exits 3 when the daemon stops. Stop \
            with Ctrl-C.
            """ + "\n\n" + examples([
            ("Watch the traffic", "sourcectl monitor"),
            ("Only failures", "sourcectl monitor | grep -v ' ok '"),
            ("The daemon's lines as they come", "sourcectl monitor --json"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let stream = try await connection.connect()
        let confirmation: JSONValue
        do {
            confirmation = try await stream.request(["op": "monitor"])
        } catch {
            throw CommandFailure(message: "\(error)", status: .unavailable)
        }
        guard confirmation["ok"] == true else {
            throw CommandFailure.reply(confirmation, printed: false)
        }
        let out = Terminal.standardOutput
        if connection.json {
            out.write(SourcedConnection.encode(confirmation) + "\n")
        }
        while let line = try await stream.receiveLine(timeout: .hours(24 * 365)) {
            if connection.json {
                out.write(line + "\n")
                continue
            }
            let request = try SourcedConnection.decode(line)
            if let dropped = request["dropped"]?.integerValue {
                out.write(out.paint("… \(dropped) requests not shown: this monitor read too slowly", .dim) + "\n")
                continue
            }
            let time = request["time_us"]?.integerValue.map(Self.clock) ?? "?"
            let aggregate = request["model"]?.stringValue.map { model in "\(model)/\(request["id"]?.stringValue ?? "*")" }
            let outcome = request["outcome"]?.stringValue ?? "?"
            let microseconds = request["us"]?.integerValue ?? 0
            let words = [request["op"]?.stringValue ?? "?", aggregate, outcome == "ok" ? outcome : out.paint(outcome, .bold)]
            out.write("\(out.paint(time, .dim))  \(words.compactMap { $0 }.joined(separator: " "))  \(microseconds) µs\n")
        }
        await stream.close()
        throw CommandFailure(message: "the daemon ended the monitor (it stopped, or the connection broke)", status: .unavailable)
    }

    /// `HH:MM:SS.mmm` in UTC of a time in microseconds since 1970.
    private static func clock(_ microseconds: Int64) -> String {
        let seconds = microseconds / 1_000_000
        let (hours, minutes, second) = ((seconds / 3600) % 24, (seconds / 60) % 60, seconds % 60)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let milliseconds = (microseconds / 1000) % 1000
        return "\(two(hours)):\(two(minutes)):\(two(second)).\(String(milliseconds + 1000).dropFirst())"
    }
}
