import ArgumentParser
import Foundation
import SourcedClient
import SourcedJSON
import SourcedWire

struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command on an aggregate, or an atomic chain of commands.",
        usage: "sourcectl exec MODEL ID COMMAND [FIELD=VALUE ...] [+ COMMAND [FIELD=VALUE ...] ...]",
        discussion: """
            Fields are name=value: integers, decimals, true, false and null are typed, anything else \
            is a string. name:=JSON gives a value as raw JSON (name:='"42"' for the string 42). \
            Separate the commands of an atomic chain with a lone +: all of them take effect, or none.
            """ + "\n\n" + examples([
            ("Create a counter", "sourcectl exec counter c1 create"),
            ("Deposit into an account", "sourcectl exec account a1 deposit amount=100"),
            ("Open and fund an account atomically", "sourcectl exec account a1 open owner=ada + deposit amount=100"),
            ("Only if still at version 3", "sourcectl exec counter c1 increment --expect 3"),
            ("Retry a command by hand, safely", "sourcectl exec account a1 deposit amount=100 --command-id 5f0c1e2a-9d2b-4c83-a1f4-0b7e3d7c2a11"),
        ]) + "\n\n" + """
            Every command is sent with a command id (a fresh UUID unless --command-id gives one). \
            If the daemon cannot be reached, the connection is lost, or it answers unavailable or \
            outcome_unknown, the command is sent again with the same id, up to --retries times with \
            growing pauses (0.1 s doubling to 5 s): the daemon runs it at most once, and a repeat it \
            already ran is answered with the original outcome ("duplicate" on the ok line).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The model, e.g. counter or account (see sourcectl models).")
    var model: String

    @Argument(help: "The aggregate's id.")
    var id: String

    @Argument(parsing: .allUnrecognized, help: "The command and its fields; + separates chained commands.")
    var command: [String] = []

    @Option(help: "Fail with wrong_version unless the aggregate is at this version.")
    var expect: UInt64?

    @Option(help: "The command's id (1–128 bytes): a repeat of an id the aggregate accepted gets the original outcome. Default: a fresh UUID.")
    var commandId: String?

    @Option(help: "How many times to send the command again after a lost connection, unavailable or outcome_unknown.")
    var retries = 8

    @Flag(help: "Send the command once, without retrying.")
    var noRetry = false

    func validate() throws {
        _ = try Self.parseChain(command)
    }

    func run() async throws {
        let commands = try Self.parseChain(command)
        var request: JSONValue = ["op": "execute", "model": .string(model), "id": .string(id)]
        if commands.count == 1 { request["command"] = commands[0] } else { request["commands"] = .array(commands) }
        if let expect { request["expect"] = .integer(expect) }
        request["command_id"] = .string(commandId ?? UUID().uuidString.lowercased())
        let reply = try await send(request)
        guard !connection.json else { return }
        let out = Terminal.standardOutput
        let duplicate = reply["duplicate"] == true ? " (duplicate: it had run before)" : ""
        var rows = [[out.paint("ok", .green), "\(model) \(id)", "version \(reply["version"]?.text ?? "?")\(duplicate)"]]
        for event in reply["events"]?.arrayValue ?? [] {
            rows.append(["", event["type"]?.stringValue ?? "?", event.fieldsText])
        }
        rows.append(["", "state", reply["state"]?.text ?? "null"])
        out.write(Terminal.table(rows))
    }

    /// Sends `request`, again after a retryable failure, with growing pauses, until it is
    /// answered or the retries are spent.
    private func send(_ request: JSONValue) async throws -> JSONValue {
        var pause = Duration.milliseconds(100)
        var attempt = 0
        while true {
            do {
                return try await connection.call(request, retrying: !noRetry && attempt < retries)
            } catch let failure as CommandFailure where failure.retryable && !noRetry && attempt < retries {
                attempt += 1
                Terminal.standardError.write("\(failure.message); sending it again with the same command id (\(attempt) of \(retries))\n")
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }

    /// Parses `COMMAND [FIELD=VALUE ...] [+ COMMAND ...]` into command objects.
    static func parseChain(_ words: [String]) throws -> [JSONValue] {
        var commands: [JSONValue] = []
        for part in words.split(separator: "+", omittingEmptySubsequences: false) {
            guard let type = part.first, !type.contains("=") else {
                throw ValidationError("each command starts with its type, e.g. deposit amount=100")
            }
            var command: JSONValue = ["type": .string(type)]
            for field in part.dropFirst() {
                let (name, value) = try parseField(field)
                command[name] = value
            }
            commands.append(command)
        }
        guard !commands.isEmpty else { throw ValidationError("missing the command, e.g. increment") }
        return commands
    }

    static func parseField(_ field: String) throws -> (String, JSONValue) {
        if let range = field.range(of: ":="), !field[..<range.lowerBound].isEmpty {
            let raw = String(field[range.upperBound...])
            guard let value = try? SourcedConnection.decode(raw) else {
                throw ValidationError("\(field): the value after := must be JSON")
            }
            return (String(field[..<range.lowerBound]), value)
        }
        guard let equals = field.firstIndex(of: "="), equals != field.startIndex else {
            throw ValidationError("\(field): fields are name=value (or name:=JSON)")
        }
        let name = String(field[..<equals])
        let text = String(field[field.index(after: equals)...])
        if let integer = Int64(text) { return (name, .integer(integer)) }
        if let number = Double(text), number.isFinite, text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) {
            return (name, .double(number))
        }
        switch text {
        case "true": return (name, .bool(true))
        case "false": return (name, .bool(false))
        case "null": return (name, .null)
        default: return (name, .string(text))
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show an aggregate's state and version.",
        discussion: examples([
            ("A counter's state", "sourcectl get counter c1"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The model.") var model: String
    @Argument(help: "The aggregate's id.") var id: String

    func run() async throws {
        let reply = try await connection.call(["op": "get", "model": .string(model), "id": .string(id)])
        guard !connection.json else { return }
        Terminal.standardOutput.write(Terminal.table([
            ["\(model) \(id)", "version \(reply["version"]?.text ?? "?")"],
            ["state", reply["state"]?.text ?? "null"],
        ]))
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List an aggregate's events with their versions, page by page.",
        discussion: examples([
            ("The first 1000 events", "sourcectl events account a1"),
            ("Ten events after version 20", "sourcectl events account a1 --from 20 --limit 10"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The model.") var model: String
    @Argument(help: "The aggregate's id.") var id: String
    @Option(help: "Show events after this version.") var from: UInt64 = 0
    @Option(help: "Show at most this many events (1-10000).") var limit: Int = 1000

    func run() async throws {
        let reply = try await connection.call([
            "op": "events", "model": .string(model), "id": .string(id),
            "from": .integer(Int64(clamping: from)), "limit": .integer(Int64(limit)),
        ])
        guard !connection.json else { return }
        let out = Terminal.standardOutput
        var rows = [["VERSION", "TIME", "TYPE", "DATA"].map { out.paint($0, .bold) }]
        for item in reply["events"]?.arrayValue ?? [] {
            let microseconds = item["timestamp"]?.integerValue ?? 0
            let time = Date(timeIntervalSince1970: Double(microseconds) / 1e6).formatted(.iso8601)
            let event = item["event"] ?? .null
            rows.append([item["version"]?.text ?? "?", time, event["type"]?.stringValue ?? "?", event.fieldsText])
        }
        out.write(Terminal.table(rows))
        // A page is not the whole history: say where the next one starts (on standard error, so
        // the table alone goes down a pipe).
        let shown = reply["events"]?.arrayValue?.last?["version"]?.integerValue ?? Int64(clamping: from)
        if let newest = reply["version"]?.integerValue, shown < newest {
            Terminal.standardError.write("versions up to \(shown) of \(newest) shown; next page: sourcectl events \(model) \(id) --from \(shown)\n")
        }
    }
}
