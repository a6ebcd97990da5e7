import ArgumentParser
import Foundation
import SourcedClient
import SourcedJSON
import SourcedWire

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the models the daemon serves and their commands, or reload its Lua models.",
        discussion: examples([
            ("What can I send?", "sourcectl models"),
            ("Serve the Lua models as --models-dir holds them now", "sourcectl models reload"),
        ])
    )

    /// What `models` can do besides listing.
    enum Action: String, ExpressibleByArgument, CaseIterable {
        case reload
    }

    @Argument(help: "reload: re-read the daemon's models directory; all files load or nothing changes.")
    var action: Action?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        guard action != .reload else { return try await reload() }
        let reply = try await connection.call(["op": "models"])
        guard !connection.json else { return }
        let out = Terminal.standardOutput
        var rows: [[String]] = []
        for model in reply["models"]?.arrayValue ?? [] {
            rows.append([out.paint(model["name"]?.stringValue ?? "?", .bold), "", ""])
            for command in model["commands"]?.arrayValue ?? [] {
                let fields: String
                if case .object(let members)? = command["fields"] {
                    fields = members.sorted { $0.key < $1.key }.map { "\($0.key)=<\($0.value.stringValue ?? "?")>" }.joined(separator: " ")
                } else {
                    fields = ""
                }
                let usage = ([command["type"]?.stringValue ?? "?"] + (fields.isEmpty ? [] : [fields])).joined(separator: " ")
                rows.append(["", usage, out.paint(command["summary"]?.stringValue ?? "", .dim)])
            }
        }
        out.write(Terminal.table(rows))
    }

    /// Asks for a reload and prints what changed, one line per kind of change.
    private func reload() async throws {
        let reply = try await connection.call(["op": "models", "reload": true])
        guard !connection.json else { return }
        let out = Terminal.standardOutput
        let rows = ["added", "changed", "removed", "unchanged"].map { change in
            let names = reply[change]?.arrayValue?.compactMap(\.stringValue) ?? []
            return [change, names.isEmpty ? out.paint("none", .dim) : names.joined(separator: ", ")]
        }
        out.write("models reloaded\n" + Terminal.table(rows))
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's live figures: cache, commands, syncs, connections.",
        discussion: examples([
            ("Live figures", "sourcectl stats"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let reply = try await connection.call(["op": "stats"])
        guard !connection.json, case .object(let stats)? = reply["stats"] else { return }
        Terminal.standardOutput.write(Terminal.table(stats.sorted { $0.key < $1.key }.map { [$0.key, $0.value.stringValue ?? $0.value.text] }))
    }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the daemon answers, and how fast.",
        discussion: examples([
            ("Is it up?", "sourcectl ping"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let started = ContinuousClock.now
        _ = try await connection.call(["op": "ping"])
        guard !connection.json else { return }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        Terminal.standardOutput.write("pong from \(connection.socketPath) in \(String(format: "%.2f", milliseconds)) ms\n")
    }
}

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask one of the daemon's read models (projections), with typed parameters.",
        discussion: """
            Parameters are name=value as for exec (name:=JSON for raw JSON). The daemon must run \
            the projection (sourced --projection NAME).
            """ + "\n\n" + examples([
            ("Accounts holding more than 100", "sourcectl query account-balances above=100"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The projection, e.g. account-balances.") var projection: String
    @Argument(help: "Its parameters, name=value.") var parameters: [String] = []

    func run() async throws {
        var request: JSONValue = ["op": "query", "projection": .string(projection)]
        for parameter in parameters {
            let (name, value) = try Exec.parseField(parameter)
            guard !["op", "projection", "req"].contains(name) else {
                throw ValidationError("\(name) is not a parameter of a projection")
            }
            request[name] = value
        }
        let reply = try await connection.call(request)
        guard !connection.json else { return }
        var rows: [[String]] = []
        if case .object(let members) = reply {
            for member in members where !["ok", "projection"].contains(member.key) {
                rows.append([member.key, member.value.text])
            }
        }
        Terminal.standardOutput.write(Terminal.table(rows))
    }
}
