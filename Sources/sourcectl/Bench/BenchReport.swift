import Foundation
import SourcedClient
import SourcedJSON
import SourcedWire

/// The figures of one bench run, as text for people or JSON for scripts.
struct BenchReport {
    /// What the measured load gave, as the load generator saw it.
    struct Measured {
        let result: ClientResult
        /// From the first connection to the last reply.
        let elapsed: Duration
        /// User and system CPU time of the whole `sourcectl` process over `elapsed`.
        let clientCPU: Duration
    }

    let options: Bench
    let measured: Measured
    /// Aggregates (with Redis: lists) whose final state differs from what was acknowledged.
    let problems: [String]
    /// The daemon's `stats` before and after the run (`null` for Redis).
    let before: JSONValue
    let after: JSONValue

    private var result: ClientResult { measured.result }
    private var seconds: Double { Self.seconds(measured.elapsed) }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The load generator's CPU time per request that got a reply, in microseconds: what driving
    /// the server cost the machine besides the server itself.
    private var clientMicrosecondsPerRequest: Double? {
        result.replies > 0 ? Self.seconds(measured.clientCPU) * 1e6 / Double(result.replies) : nil
    }

    private var commands: Int { result.succeeded }
    private var events: Int { commands * options.model.eventsPerCommand }

    private func rate(_ count: Int) -> Double {
        seconds > 0 ? Double(count) / seconds : 0
    }

    /// Latency percentiles in milliseconds.
    private var percentiles: [(String, Double)] {
        let histogram = result.latency
        return [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)].map {
            ($0.0, Double(histogram.valueAtPercentile($0.1)) / 1000)
        } + [("max", Double(histogram.max) / 1000)]
    }

    /// How many syncs the daemon made per committed command during the run.
    private var syncsPerCommand: Double? {
        guard let syncs = delta("fsyncs"), let committed = delta("commands"), committed > 0 else { return nil }
        return Double(syncs) / Double(committed)
    }

    private func delta(_ key: String) -> Int64? {
        guard let start = before[key]?.integerValue, let end = after[key]?.integerValue else { return nil }
        return end - start
    }

    private var workload: String {
        let what = switch (options.server, options.model) {
        case (.redis, _): "Redis RPUSH of \(RedisWorkload.value.count) bytes"
        case (.sourced, .counter), (.sourced, .luaCounter): "\(options.model.rawValue) increments"
        case (.sourced, .account), (.sourced, .luaAccount): "\(options.model.rawValue) deposit+withdraw chains"
        }
        let distribution = options.distribution == .zipf ? "zipf s=\(options.zipfExponent)" : "uniform"
        let keys = options.server == .redis ? "lists" : "aggregates"
        return "\(what), \(options.clients) clients, \(options.aggregates) \(keys) (\(distribution)), pipeline \(options.pipeline)"
            + (options.commandIds ? ", command ids" : "")
    }

    func text(_ terminal: Terminal) -> String {
        let errors = result.errors.isEmpty
            ? "0"
            : result.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        var rows = [
            ["commands", "\(Int(rate(commands)).formatted())/s (\(commands.formatted()) in all)"],
            ["events", "\(Int(rate(events)).formatted())/s (\(events.formatted()) in all)"],
            ["errors", errors],
            ["latency", percentiles.map { "\($0.0) \(String(format: "%.3f", $0.1)) ms" }.joined(separator: "  ")],
        ]
        if let syncsPerCommand {
            rows.append(["fsyncs", String(format: "%.3f per command (sync %@)", syncsPerCommand, after["sync"]?.stringValue ?? "?")])
        }
        if let clientMicrosecondsPerRequest {
            rows.append(["client", String(format: "%.1f µs of CPU per request (this load generator, user + system)", clientMicrosecondsPerRequest)])
        }
        let verdict = switch (problems.isEmpty, options.server) {
        case (true, .sourced):
            terminal.paint("ok", .green) + ": all \(options.aggregates) aggregates match the \(commands.formatted()) acknowledged commands"
        case (true, .redis):
            terminal.paint("ok", .green) + ": the LLEN of every list (\(options.aggregates)) grew by the \(commands.formatted()) acknowledged pushes"
        case (false, .sourced):
            terminal.paint("FAILED", .red) + ": \(problems.count) aggregates differ, e.g. \(problems.prefix(3).joined(separator: "; "))"
        case (false, .redis):
            terminal.paint("FAILED", .red) + ": \(problems.count) lists differ, e.g. \(problems.prefix(3).joined(separator: "; "))"
        }
        rows.append(["verified", verdict])
        let title = "sourcectl bench: \(workload), \(String(format: "%.1f", seconds)) s"
        return terminal.paint(title, .bold) + "\n" + Terminal.table(rows.map { ["  " + $0[0]] + $0.dropFirst() })
    }

    var json: String {
        var object: JSONValue = [
            "protocol": .string(options.server.rawValue),
            "model": .string(options.server == .redis ? "rpush" : options.model.rawValue),
            "clients": .integer(Int64(options.clients)),
            "aggregates": .integer(Int64(options.aggregates)),
            "distribution": .string(options.distribution.rawValue),
            "pipeline": .integer(Int64(options.pipeline)),
            "command_ids": .bool(options.commandIds),
            "seconds": .double(seconds),
            "commands": .integer(Int64(commands)),
            "events": .integer(Int64(events)),
            "commands_per_second": .double(rate(commands)),
            "events_per_second": .double(rate(events)),
            "errors": .object(result.errors.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .integer($0.value)) }),
            "latency_ms": .object(percentiles.map { .init(key: $0.0, value: .double($0.1)) }),
            "verified": .bool(problems.isEmpty),
            "sync": after["sync"] ?? .null,
        ]
        if options.distribution == .zipf { object["zipf_exponent"] = .double(options.zipfExponent) }
        if let syncsPerCommand { object["fsyncs_per_command"] = .double(syncsPerCommand) }
        object["client_cpu_seconds"] = .double(Self.seconds(measured.clientCPU))
        if let clientMicrosecondsPerRequest { object["client_cpu_us_per_request"] = .double(clientMicrosecondsPerRequest) }
        if !problems.isEmpty { object["problems"] = .array(problems.prefix(20).map { .string($0) }) }
        return SourcedConnection.encode(object)
    }
}
