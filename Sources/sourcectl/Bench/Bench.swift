import ArgumentParser
import DequeModule
import Foundation
import Glibc
import Histogram
import SourcedClient
import SourcedProtocol
import Synchronization

/// A load generator in the manner of redis-benchmark and pgbench, which also checks its result.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test the daemon and report throughput and latency percentiles.",
        discussion: """
            Creates --aggregates fresh aggregates (ids PREFIX-0, PREFIX-1, ...), then runs --clients \
            connections, each keeping --pipeline commands in flight, for --duration seconds or \
            --requests commands in all. Latency is measured per command from send to reply, in an \
            HDR histogram. At the end every aggregate is read back and checked against the commands \
            acknowledged to it; the exit status is 1 if any differs.
            """ + "\n\n" + examples([
            ("The standard run", "sourcectl bench --clients 64 --aggregates 10000 --duration 10"),
            ("One hot aggregate", "sourcectl bench --clients 64 --aggregates 1 --duration 10"),
            ("Skewed account chains, as JSON", "sourcectl bench --model account --distribution zipf --json"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Concurrent connections.")
    var clients = 16

    @Option(help: "Distinct aggregates the commands go to.")
    var aggregates = 10_000

    @Option(help: "How commands pick their aggregate: \(Distribution.allCases.map(\.rawValue).joined(separator: ", ")).")
    var distribution = Distribution.uniform

    @Option(help: "The zipf exponent s (weight of the k-th aggregate is 1/k^s).")
    var zipfExponent = 0.99

    @Option(help: "What to send: counter (increment) or account (atomic deposit+withdraw chain).")
    var model = BenchModel.counter

    @Option(help: "Stop after this many commands in all (instead of --duration).")
    var requests: Int?

    @Option(help: "Run for this many seconds (default 10 unless --requests is given).")
    var duration: Double?

    @Option(help: "Commands each connection keeps in flight (at most 256).")
    var pipeline = 1

    @Option(help: "Prefix of the aggregate ids (default: bench-PID-TIME, fresh each run).")
    var prefix: String?

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
    }

    func run() async throws {
        let path = connection.socketPath
        let probe = try await connection.connect()
        let ids = (0..<aggregates).map { "\(prefix ?? "bench-\(getpid())-\(time(nil))")-\($0)" }
        let quiet = connection.json || !Terminal.standardError.isTerminal
        if !quiet { Terminal.standardError.write("creating \(aggregates) aggregates...\r") }
        try await Self.forEach(ids.count, over: min(clients, 16), path: path) { model.create(ids[$0]) } check: { line, index in
            guard line.contains(#""ok":true"#) else {
                throw CommandFailure(message: "cannot create \(ids[index]): \(line)", status: .domain)
            }
        }

        let before = try await Self.statistics(probe)
        let load = Load(budget: requests ?? .max, deadline: requests == nil ? .now + .seconds(duration ?? 10) : nil)
        let progress = quiet ? nil : Task { await Self.showProgress(load) }
        let started = ContinuousClock.now
        let total = try await LoadLoop.onThread { try runLoad(ids: ids, path: path, load: load) }
        let elapsed = ContinuousClock.now - started
        progress?.cancel()
        if !quiet { Terminal.standardError.write("\r\u{1B}[K") }

        let problems = try await verify(ids, total, path: path)
        let after = try await Self.statistics(probe)
        await probe.close()
        let report = BenchReport(
            options: self, result: total, elapsed: elapsed, problems: problems, before: before, after: after
        )
        Terminal.standardOutput.write(connection.json ? report.json + "\n" : report.text(Terminal.standardOutput))
        if !problems.isEmpty {
            throw CommandFailure(message: "verification failed for \(problems.count) aggregates", status: .domain)
        }
    }

    /// The measured load: every connection on one thread of its own (see ``LoadLoop``).
    private func runLoad(ids: [String], path: String, load: Load) throws -> ClientResult {
        let seed = UInt64(time(nil))
        let pickers = (0..<clients).map { client in
            KeyPicker(count: ids.count, distribution: distribution, exponent: zipfExponent, seed: UInt64(client + 1) &* 0x2545_F491_4F6C_DD1D ^ seed)
        }
        let model = model
        let loop = try LoadLoop(path: path, pickers: pickers, aggregates: ids.count) { model.command(ids[$0]) }
        return try loop.run(pipeline: pipeline, load: load)
    }

    /// Reads every aggregate back and compares it with what was acknowledged.
    private func verify(_ ids: [String], _ result: ClientResult, path: String) async throws -> [String] {
        let problems = Mutex([String]())
        let field = model == .counter ? "count" : "balance"
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

    mutating func record(_ line: String, aggregate: Int) {
        if line.utf8.firstRange(of: #""ok":true"#.utf8) != nil {
            acknowledged[aggregate] += 1
            return
        }
        let code = (try? SourcedConnection.decode(line))?.errorCode ?? "malformed"
        errors[code, default: 0] += 1
        if code == ErrorCode.outcomeUnknown.rawValue {
            unknown[aggregate] += 1
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
