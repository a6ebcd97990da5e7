import Foundation
import SourcedJSON
import SourcedTestSupport
import Testing

/// `--max-memory` through the real daemon: accounts with large owners far beyond the budget keep
/// the estimate within it and the RSS near it, and each answers right, reloaded on demand.
///
/// Scaled down by default; `SOURCED_MEMORY_ACCOUNTS`, `SOURCED_MEMORY_OWNER_BYTES` and
/// `SOURCED_MEMORY_BUDGET` scale it (issue 14's figure: 1000, 1000000, 64MiB).
@Suite struct MemoryBudgetTests {
    @Test func largeAccountsStayWithinTheBudgetAndAnswerRight() async throws {
        let environment = ProcessInfo.processInfo.environment
        let accounts = environment["SOURCED_MEMORY_ACCOUNTS"].flatMap { Int($0) } ?? 200
        let ownerBytes = environment["SOURCED_MEMORY_OWNER_BYTES"].flatMap { Int($0) } ?? 256_000
        let budgetText = environment["SOURCED_MEMORY_BUDGET"] ?? "16MiB"
        let budget = Int(budgetText.dropLast(3))! << 20
        let daemon = try await DaemonProcess(arguments: ["--max-memory", budgetText, "--sync", "none", "--threads", "1", "--log-level", "info"])
        let client = try await LineClient.connect(daemon.socketPath)
        let base = try daemon.residentMegabytes()
        func owner(_ index: Int) -> String { "owner \(index) " + String(repeating: "x", count: ownerBytes) }
        func stats() async throws -> JSONValue { try await client.request(line: #"{"op":"stats"}"#)["stats"] ?? .null }

        for index in 0..<accounts {
            let reply = try await client.request(
                line: #"{"op":"execute","model":"account","id":"a\#(index)","commands":[{"type":"open","owner":"\#(owner(index))"},{"type":"deposit","amount":\#(index + 1)}]}"#
            )
            #expect(reply["version"] == .integer(2), "a\(index): \(reply["error"] ?? .null)")
        }
        try await waitUntil { try await stats()["aggregate_memory_bytes"].flatMap(\.integerValue).map { $0 <= Int64(budget) } ?? false }
        let written = try daemon.residentMegabytes()
        for index in 0..<accounts {
            let reply = try await client.request(line: #"{"op":"get","model":"account","id":"a\#(index)"}"#)
            #expect(reply["state"]?["owner"] == .string(owner(index)) && reply["state"]?["balance"] == .integer(Int64(index + 1)), "a\(index)")
        }
        try await waitUntil { try await stats()["aggregate_memory_bytes"].flatMap(\.integerValue).map { $0 <= Int64(budget) } ?? false }
        let final = try await stats()
        let read = try daemon.residentMegabytes()
        let peak = try daemon.residentMegabytes(peak: true)
        print("memory budget: \(accounts) accounts of \(ownerBytes)-byte owners, --max-memory \(budgetText): RSS \(base) MiB at start, \(written) MiB after writing, \(read) MiB after reading all, peak \(peak) MiB; estimate \(final["aggregate_memory_bytes"] ?? .null) bytes, \(final["live_aggregates"] ?? .null) live, \(final["evictions"] ?? .null) evictions, \(final["loads"] ?? .null) loads, \(final["snapshots_written"] ?? .null) snapshots")
        #expect(read - base <= budget >> 20 + 32, "RSS grew \(read - base) MiB beyond a \(budget >> 20) MiB budget")
        await client.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func maxMemoryTakesSuffixesAndRefusesNonsense() async throws {
        let directory = TemporaryDirectory("mm")
        let refused = try await ToolRun.run("sourced", ["--max-memory", "64 parsecs", "--data-dir", directory.file("data"), "--socket", directory.file("s.sock")])
        #expect(refused.status != 0 && refused.errors.contains(#"invalid value "64 parsecs" for --max-memory"#), "\(refused.errors)")
        for (arguments, environment, bytes) in [(["--max-memory", "1.5GiB"], [:], 1_610_612_736), ([], ["SOURCED_MAX_MEMORY": "500MB"], 500_000_000)] {
            let daemon = try await DaemonProcess(arguments: arguments, environment: environment)
            let client = try await LineClient.connect(daemon.socketPath)
            let stats = try await client.request(line: #"{"op":"stats"}"#)["stats"]
            #expect(stats?["max_memory_bytes"] == .integer(Int64(bytes)), "\(arguments) \(environment)")
            await client.close()
            #expect(await daemon.stop() == 0)
        }
    }
}
