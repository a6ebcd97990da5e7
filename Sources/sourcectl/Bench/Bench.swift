import ArgumentParser
import DequeModule
import Foundation
import Glibc
import Histogram
import SourcedClient
import SourcedJSON
import SourcedWire
import Synchronization

/// A load generator in the manner of redis-benchmark and pgbench, which also checks its result,
/// and drives Sourced or Redis with the same loop.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test the daemon (or a Redis server) and report throughput, latency and the client's CPU.",
        discussion: """
            Creates --aggregates fresh aggregates (ids PREFIX-0, PREFIX-1, ...), then runs --clients \
            connections, each keeping --pipeline commands in flight, for --duration seconds or \
            --requests commands in all. Latency is measured per command from send to reply, in an \
            HDR histogram. At the end every aggregate is read back and checked against the commands \
            acknowledged to it; the exit status is 1 if any differs.

            The report also gives the load generator's own CPU time (user + system, of the whole \
            sourcectl process over the measured load) per request: the client shares the machine's \
            cores with the server, so two servers compare fairly only under clients of equal cost.

            With --protocol redis the same loop, distributions and report drive a Redis server on its \
            Unix socket (--socket is required): each command is RPUSH PREFIX:<12-digit index> with a \
            100-byte value (PREFIX is stream unless given), keys as redis-benchmark -r names them; an \
            integer reply counts as acknowledged, an error reply (-ERR ...) as an error. Nothing is \
            created first; the check compares every list's LLEN before and after the load with the \
            pushes acknowledged to it.
            """ + "\n\n" + examples([
            ("The standard run", "sourcectl bench --clients 64 --aggregates 10000 --duration 10"),
            ("One hot aggregate", "sourcectl bench --clients 64 --aggregates 1 --duration 10"),
            ("Skewed account chains, as JSON", "sourcectl bench --model account --distribution zipf --json"),
            ("Redis, the same load", "sourcectl bench --protocol redis --socket /tmp/redis/redis.sock --clients 64 --aggregates 10000"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .customLong("protocol"), help: "The server to drive, in its own protocol (redis needs --socket).")
    var server = BenchProtocol.sourced

    @Option(help: "Concurrent connections.")
    var clients = 16

    @Option(help: "Distinct aggregates (with redis: lists) the commands go to.")
    var aggregates = 10_000

    @Option(help: "How commands pick their aggregate: \(Distribution.allCases.map(\.rawValue).joined(separator: ", ")).")
    var distribution = Distribution.uniform

    @Option(help: "The zipf exponent s (weight of the k-th aggregate is 1/k^s).")
    var zipfExponent = 0.99

    @Option(help: "What to send: counter (increment) or account (atomic deposit+withdraw chain); lua-counter and lua-account send the same to the Lua models of models/ (sourced --models-dir models); redis: counter only.")
    var model = BenchModel.counter

    @Option(help: "Stop after this many commands in all (instead of --duration).")
    var requests: Int?

    @Option(help: "Run for this many seconds (default 10 unless --requests is given).")
    var duration: Double?

    @Option(help: "Commands each connection keeps in flight (at most 256).")
    var pipeline = 1

    @Option(help: "Prefix of the aggregate ids (default: bench-PID-TIME, fresh each run; with redis: stream).")
    var prefix: String?

    @Flag(help: "Send each command with a command_id of its own (sourced only), to measure what exactly-once costs.")
    var commandIds = false

    func validate() throws {
        guard clients > 0, aggregates > 0, pipeline > 0 else {
            throw ValidationError("--clients, --aggregates and --pipeline must be positive")
        }
        guard pipeline <= LoadLoop.maximumPipeline else {
            throw ValidationError("--pipeline must be at most \(LoadLoop.maximumPipeline)")
        }
        guard requests.map({ $0 > 0 }) ?? true, duration.map({ $0 > 0 && $0.isFinite }) ?? true else {
            throw ValidationError("--requests and --duration must be positive")
        }
        guard requests == nil || duration == nil else {
            throw ValidationError("give --requests or --duration, not both")
        }
        guard zipfExponent > 0 else { throw ValidationError("--zipf-exponent must be positive") }
        if server == .redis {
            guard connection.socket != nil else {
                throw ValidationError("--protocol redis needs --socket PATH: the unixsocket of a redis-server (e.g. redis-server --port 0 --unixsocket /tmp/redis.sock)")
            }
            guard model == .counter else {
                throw ValidationError("--protocol redis sends RPUSH only: leave out --model (or give --model counter)")
            }
        }
    }

    func run() async throws {
        let quiet = connection.json || !Terminal.standardError.isTerminal
        let report = switch server {
        case .sourced: try await runSourced(quiet: quiet)
        case .redis: try await runRedis(quiet: quiet)
        }
        Terminal.standardOutput.write(connection.json ? report.json + "\n" : report.text(Terminal.standardOutput))
        if !report.problems.isEmpty {
            let what = server == .sourced ? "aggregates" : "lists"
            throw CommandFailure(message: "verification failed for \(report.problems.count) \(what)", status: .domain)
        }
    }

    /// Creates the aggregates, measures, and reads every aggregate back.
    private func runSourced(quiet: Bool) async throws -> BenchReport {
        let path = connection.socketPath
        let probe = try await connection.connect()
        let ids = (0..<aggregates).map { "\(prefix ?? "bench-\(getpid())-\(time(nil))")-\($0)" }
        if !quiet { Terminal.standardError.write("creating \(aggregates) aggregates...\r") }
        try await Self.forEach(ids.count, over: min(clients, 16), path: path) { model.create(ids[$0]) } check: { line, index in
            guard line.contains(#""ok":true"#) else {
                throw CommandFailure(message: "cannot create \(ids[index]): \(line)", status: .domain)
            }
        }

        let before = try await Self.statistics(probe)
        let measured = try await measure(path: path, speaking: .sourced(model: model, ids: ids, commandIDs: commandIds), quiet: quiet)
        let problems = try await verify(ids, measured.result, path: path)
        let after = try await Self.statistics(probe)
        await probe.close()
        return BenchReport(options: self, measured: measured, problems: problems, before: before, after: after)
    }

    /// Reads every list's length, measures, and compares the lengths' growth with the pushes
    /// acknowledged to each list.
    private func runRedis(quiet: Bool) async throws -> BenchReport {
        let path = connection.socketPath
        let workload = RedisWorkload(prefix: prefix ?? "stream", aggregates: aggregates)
        let before = try await LoadLoop.onThread { try workload.lengths(path: path) }
        let measured = try await measure(path: path, speaking: .redis(workload), quiet: quiet)
        let after = try await LoadLoop.onThread { try workload.lengths(path: path) }
        var problems = [String]()
        for index in 0..<aggregates where after[index] - before[index] != Int(measured.result.acknowledged[index]) {
            problems.append("\(workload.key(index)): LLEN grew by \(after[index] - before[index]) after \(measured.result.acknowledged[index]) acknowledged RPUSHes")
        }
        return BenchReport(options: self, measured: measured, problems: problems, before: .null, after: .null)
    }

    /// The measured load over `speaking`, with progress on a terminal unless `quiet`, and the CPU
    /// time this process spent meanwhile.
    private func measure(path: String, speaking: LoadProtocol, quiet: Bool) async throws -> BenchReport.Measured {
        let load = Load(budget: requests ?? .max, deadline: requests == nil ? .now + .seconds(duration ?? 10) : nil)
        let progress = quiet ? nil : Task { await Self.showProgress(load) }
        let started = ContinuousClock.now
        let cpuBefore = Self.processCPUTime()
        let result = try await LoadLoop.onThread { try runLoad(path: path, speaking: speaking, load: load) }
        let cpu = Self.processCPUTime() - cpuBefore
        let elapsed = ContinuousClock.now - started
        progress?.cancel()
        if !quiet { Terminal.standardError.write("\r\u{1B}[K") }
        return BenchReport.Measured(result: result, elapsed: elapsed, clientCPU: cpu)
    }

    /// The measured load: every connection on one thread of its own (see ``LoadLoop``).
    private func runLoad(path: String, speaking: LoadProtocol, load: Load) throws -> ClientResult {
        let seed = UInt64(time(nil))
        let pickers = (0..<clients).map { client in
            KeyPicker(count: aggregates, distribution: distribution, exponent: zipfExponent, seed: UInt64(client + 1) &* 0x2545_F491_4F6C_DD1D ^ seed)
        }
        let loop = try LoadLoop(path: path, pickers: pickers, aggregates: aggregates, speaking: speaking)
        return try loop.run(pipeline: pipeline, load: load)
    }

    /// Reads every aggregate back and compares it with what was acknowledged.
    private func verify(_ ids: [String], _ result: ClientResult, path: String) async throws -> [String] {
        let problems = Mutex([String]())
        let field = model.isCounter ? "count" : "balance"
        try await Self.forEach(ids.count, over: min(clients, 16), path: path) { index in
            #"{"op":"get","model":"\#(model.rawValue)","id":"\#(ids[index])"}"#
        } check: { line, index in
            let reply = try SourcedConnection.decode(line)
            let observed = ["version": reply["version"]?.integerValue, "value": reply["state"]?[field]?.integerValue]
            if let problem = model.check(observed, acknowledged: Int64(result.acknowledged[index]), unknown: Int64(result.unknown[index])) {
                problems.withLock { $0.append("\(ids[index]): \(problem)") }
            }
        }
        return problems.withLock { $0 }
    }

    /// Sends `request(index)` for every index in `0..<count` over `connections` pipelined
    /// connections and hands each reply line to `check` with its index.
    private static func forEach(
        _ count: Int,
        over connections: Int,
        path: String,
        request: @escaping @Sendable (Int) -> String,
        check: @escaping @Sendable (String, Int) throws -> Void
    ) async throws {
        let window = 64
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<connections {
                group.addTask {
                    let connection = try await SourcedConnection.connect(to: path)
                    let mine = Array(stride(from: part, to: count, by: connections))
                    var sent = 0
                    var received = 0
                    while received < mine.count {
                        while sent < mine.count, sent - received < window {
                            try await connection.send(line: request(mine[sent]))
                            sent += 1
                        }
                        guard let line = try await connection.receiveLine() else { throw SourcedConnection.Failure.closed }
                        try check(line, mine[received])
                        received += 1
                    }
                    await connection.close()
                }
            }
            try await group.waitForAll()
        }
    }

    private static func statistics(_ connection: SourcedConnection) async throws -> JSONValue {
        try await connection.request(["op": "stats"])["stats"] ?? .null
    }

    private static func showProgress(_ load: Load) async {
        let started = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let seconds = Double((ContinuousClock.now - started).components.seconds)
            let done = load.done
            let rate = seconds > 0 ? Int(Double(done) / seconds) : 0
            Terminal.standardError.write("\r\u{1B}[K  \(Int(seconds)) s  \(done.formatted()) commands  \(rate.formatted())/s")
        }
    }

    /// The user and system CPU time of this whole process so far (every thread), from
    /// `getrusage(RUSAGE_SELF)`.
    static func processCPUTime() -> Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let microseconds = Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
            + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
        return .microseconds(microseconds)
    }

    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// The shared budget and deadline of a run, and its progress.
final class Load: Sendable {
    private let remaining: Atomic<Int>
    private let finished = Atomic(0)
    private let deadline: ContinuousClock.Instant?

    init(budget: Int, deadline: ContinuousClock.Instant?) {
        remaining = Atomic(budget)
        self.deadline = deadline
    }

    /// Whether one more command may be sent.
    func take() -> Bool {
        if let deadline, ContinuousClock.now >= deadline { return false }
        return remaining.subtract(1, ordering: .relaxed).newValue >= 0
    }

    func completed() {
        finished.add(1, ordering: .relaxed)
    }

    var done: Int { finished.load(ordering: .relaxed) }
}

/// What one or more connections measured.
struct ClientResult: Sendable {
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    /// Acknowledged commands per aggregate.
    var acknowledged: [Int32]
    /// Commands per aggregate whose outcome is unknown (`outcome_unknown` replies).
    var unknown: [Int32]
    var errors: [String: Int] = [:]

    init(aggregates: Int) {
        acknowledged = Array(repeating: 0, count: aggregates)
        unknown = Array(repeating: 0, count: aggregates)
    }

    var succeeded: Int { acknowledged.reduce(0) { $0 + Int($1) } }

    /// Requests that received a reply, acknowledged or not.
    var replies: Int { succeeded + errors.values.reduce(0, +) }

    mutating func record(_ outcome: LoadProtocol.Outcome, aggregate: Int) {
        switch outcome {
        case .acknowledged:
            acknowledged[aggregate] += 1
        case .failed(let code, let outcomeUnknown):
            errors[code, default: 0] += 1
            if outcomeUnknown { unknown[aggregate] += 1 }
        }
    }

    mutating func add(_ other: ClientResult) {
        latency.add(other.latency)
        for index in acknowledged.indices {
            acknowledged[index] += other.acknowledged[index]
            unknown[index] += other.unknown[index]
        }
        errors.merge(other.errors, uniquingKeysWith: +)
    }
}
