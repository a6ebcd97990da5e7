import Foundation
import Glibc
import NIOCore
import SourcedClient
import SourcedJSON
import SourcedTestSupport
import SourcedWire
import Synchronization
import Testing

/// The crash harness: load, SIGKILL at a random moment, restart, verify; over and over.
///
/// Counters check that every acknowledged command survives and that nothing half-applied is
/// visible; accounts move money out and back in with atomic `withdraw`+`deposit` chains, so their
/// total is conserved only if no chain is ever half-visible; the global log is read back
/// incrementally and must stay gapless and agree with every aggregate. It runs in every sync mode
/// (SIGKILL keeps the page cache, so all three must pass). CI runs 10 cycles per mode; run the
/// long version with `SOURCED_CRASH_CYCLES=200 swift test --filter CrashHarnessTests`
/// (docs/reliability.md).
@Suite struct CrashHarnessTests {
    static let counters = 8
    static let accounts = 8
    static let initialBalance: Int64 = 1_000

    /// What the clients were told, across all cycles.
    final class Ledger: Sendable {
        struct State {
            /// Highest acknowledged version per aggregate id.
            var acknowledged: [String: Int64] = [:]
            /// Acknowledged chains: position → (id, last version).
            var positions: [Int64: (id: String, version: Int64)] = [:]
            var replies = 0
        }

        let state = Mutex(State())

        func record(_ reply: JSONValue) {
            guard let id = reply["id"]?.stringValue, let version = reply["version"]?.integerValue,
                  let position = reply["position"]?.integerValue
            else { return }
            state.withLock { state in
                state.acknowledged[id] = max(state.acknowledged[id] ?? 0, version)
                state.positions[position] = (id, version)
                state.replies += 1
            }
        }

        var replies: Int { state.withLock { $0.replies } }
    }

    @Test(arguments: ["always", "every-log", "none"])
    func crashCyclesLoseNothingAcknowledgedAndShowNothingHalfDone(sync: String) async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["SOURCED_CRASH_CYCLES"] ?? "") ?? 10
        let directory = TemporaryDirectory("crash")
        let ledger = Ledger()
        var verifiedPosition: Int64 = 0
        var globalVersions: [String: Int64] = [:]

        var daemon = try await DaemonProcess(in: directory, arguments: ["--sync", sync])
        let setup = try await LineClient.connect(daemon.socketPath)
        for index in 0..<Self.counters {
            ledger.record(try await setup.request(line: #"{"op":"execute","model":"counter","id":"c\#(index)","command":{"type":"create"}}"#))
        }
        for index in 0..<Self.accounts {
            ledger.record(try await setup.request(line: #"{"op":"execute","model":"account","id":"a\#(index)","commands":[{"type":"open","owner":"o"},{"type":"deposit","amount":\#(Self.initialBalance)}]}"#))
        }
        await setup.close()

        for cycle in 1...cycles {
            let before = ledger.replies
            let socket = daemon.socketPath
            let load = Task { await Self.drive(socket, ledger) }
            let target = before + Int.random(in: 20...200)
            try await waitUntil(timeout: .seconds(60)) { ledger.replies >= target }
            #expect(await daemon.stop(SIGKILL) == SIGKILL, "cycle \(cycle)")
            await load.value

            daemon = try await DaemonProcess(in: directory, arguments: ["--sync", sync])
            let client = try await LineClient.connect(daemon.socketPath)
            let acknowledged = ledger.state.withLock { $0.acknowledged }
            var total: Int64 = 0
            for (id, model) in (0..<Self.counters).map({ ("c\($0)", "counter") }) + (0..<Self.accounts).map({ ("a\($0)", "account") }) {
                let state = try await client.request(line: #"{"op":"get","model":"\#(model)","id":"\#(id)"}"#)
                let version = try #require(state["version"]?.integerValue)
                #expect(version >= acknowledged[id] ?? 0, "cycle \(cycle): \(id) lost acknowledged commands")
                if model == "counter" {
                    #expect(state["state"]?["count"] == .integer(version - 1), "cycle \(cycle): \(id) half-applied")
                } else {
                    total += try #require(state["state"]?["balance"]?.integerValue)
                    #expect(version % 2 == 0, "cycle \(cycle): \(id) holds half a chain")
                }
            }
            #expect(total == Int64(Self.accounts) * Self.initialBalance, "cycle \(cycle): money was created or lost")

            let newest = try #require(try await client.request(line: #"{"op":"stats"}"#)["stats"]?["position"]?.integerValue)
            if newest > verifiedPosition {
                let watcher = try await LineClient.connect(daemon.socketPath)
                _ = try await watcher.subscribe(from: verifiedPosition)
                for event in try await watcher.readEvents(through: newest) {
                    #expect(event.position >= verifiedPosition && event.position <= verifiedPosition + 1, "cycle \(cycle): gap or repeat at \(event.position)")
                    verifiedPosition = event.position
                    #expect(event.version == globalVersions[event.id, default: 0] + 1, "cycle \(cycle): \(event.id) versions")
                    globalVersions[event.id] = event.version
                }
                await watcher.close()
            }
            for (id, model) in (0..<Self.counters).map({ ("c\($0)", "counter") }) + (0..<Self.accounts).map({ ("a\($0)", "account") }) {
                let state = try await client.request(line: #"{"op":"get","model":"\#(model)","id":"\#(id)"}"#)
                #expect(state["version"] == .integer(globalVersions[id] ?? 0), "cycle \(cycle): \(id) disagrees with the global log")
            }
            let positions = ledger.state.withLock { $0.positions }
            for (position, chain) in positions where position > verifiedPosition - 400 && position <= verifiedPosition {
                #expect(globalVersions[chain.id, default: 0] >= chain.version, "cycle \(cycle): acknowledged position \(position)")
            }
            await client.close()
        }
        #expect(await daemon.stop() == 0)
        let segments = directory.allFiles().filter { $0.hasPrefix("data/global/") && $0.hasSuffix(".log") }.count
        print("crash harness, sync \(sync): \(cycles) cycles, \(verifiedPosition) positions in \(segments) global segments")
    }

    /// Clients until the daemon dies: counter increments, and money moved out and back in one
    /// atomic chain.
    static func drive(_ path: String, _ ledger: Ledger) async {
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<6 {
                group.addTask {
                    guard let client = try? await LineClient.connect(path) else { return }
                    var generator = SystemRandomNumberGenerator()
                    while true {
                        let line: String
                        if writer % 2 == 0 {
                            line = #"{"op":"execute","model":"counter","id":"c\#(Int.random(in: 0..<counters, using: &generator))","command":{"type":"increment"}}"#
                        } else {
                            let amount = Int.random(in: 1...500, using: &generator)
                            line = #"{"op":"execute","model":"account","id":"a\#(Int.random(in: 0..<accounts, using: &generator))","commands":[{"type":"withdraw","amount":\#(amount)},{"type":"deposit","amount":\#(amount)}]}"#
                        }
                        guard let reply = try? await client.request(line: line, timeout: .seconds(10)) else { break }
                        ledger.record(reply)
                    }
                    await client.close()
                }
            }
        }
    }
}

extension SourcedConnection {
    func request(line: String, timeout: TimeAmount) async throws -> JSONValue {
        try await send(line: line)
        return try await receive(timeout: timeout)
    }
}
