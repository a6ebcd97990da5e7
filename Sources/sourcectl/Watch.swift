import ArgumentParser
import Foundation
import SourcedClient
import SourcedJSON
import SourcedWire

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print committed events as they happen, optionally from a past position.",
        discussion: """
            Without --from, prints events committed from now on. With --from P, first prints every \
            event after global position P, then continues live, with no gap. If the daemon reports \
            that this watcher fell behind, it exits 1 and says which --from resumes; if the daemon \
            stops or the connection ends, it exits 3 and says the same. Stop with Ctrl-C.
            """ + "\n\n" + examples([
            ("Everything from the beginning", "sourcectl watch --from 0"),
            ("Only accounts, live", "sourcectl watch --model account"),
            ("One aggregate", "sourcectl watch --model account --id a1 --from 0"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Start after this global position (0: from the first event).")
    var from: UInt64?

    @Option(help: "Only events of this model.")
    var model: String?

    @Option(help: "Only events of this aggregate (needs --model).")
    var id: String?

    func run() async throws {
        var request: JSONValue = ["op": "subscribe"]
        if let from { request["from"] = .integer(Int64(clamping: from)) }
        if let model { request["model"] = .string(model) }
        if let id { request["id"] = .string(id) }
        let stream = try await connection.connect()
        let confirmation: JSONValue
        do {
            confirmation = try await stream.request(request)
        } catch {
            throw CommandFailure(message: "\(error)", status: .unavailable)
        }
        guard confirmation["ok"] == true else {
            throw CommandFailure.reply(confirmation, printed: false)
        }
        let out = Terminal.standardOutput
        /// The position of the last event printed: `--from` this resumes without a gap.
        var resumeFrom = from ?? confirmation["from"]?.integerValue.map { UInt64(clamping: $0) }
        if connection.json {
            out.write(SourcedConnection.encode(confirmation) + "\n")
        }
        while let line = try await stream.receiveLine(timeout: .hours(24 * 365)) {
            let event = try SourcedConnection.decode(line)
            if connection.json {
                out.write(line + "\n")
            }
            if event["ok"] == false {
                throw CommandFailure.reply(event, printed: connection.json)
            }
            if let position = event["position"]?.integerValue {
                resumeFrom = UInt64(clamping: position)
            }
            if connection.json {
                continue
            }
            let position = event["position"]?.text ?? "?"
            let aggregate = "\(event["model"]?.stringValue ?? "?")/\(event["id"]?.stringValue ?? "?")"
            let version = "v\(event["version"]?.text ?? "?")"
            let type = event["type"]?.stringValue ?? "?"
            out.write("\(out.paint(position, .dim))  \(aggregate)  \(version)  \(out.paint(type, .bold))  \(event["data"]?.text ?? "{}")\n")
        }
        await stream.close()
        let resume = resumeFrom.map { "; resume with --from \($0)" } ?? ""
        throw CommandFailure(message: "the daemon ended the stream (it stopped, or the connection broke)\(resume)", status: .unavailable)
    }
}
