import Foundation
import Glibc
import SourcedClient
import SourcedTestSupport
import Testing

/// `sourced backup` beside a daemon under write load: the copy holds every chain acknowledged
/// before the backup started, passes `sourced check`, and a daemon started on it serves it.
@Suite struct BackupTests {
    /// 16 clients commit chains (two increments each) on 64 counters, and go on while the backup
    /// runs. Once with the default segment size, frequent snapshots and an event handler (whose
    /// saved states are copied too); once with 16 KiB segments and retention keeping 64 KiB, so
    /// that segments are sealed and deleted while the backup copies.
    @Test(arguments: [["--snapshot-every", "16", "--projection", "account-balances"], ["--segment-size", "16KiB", "--retain-global", "64KiB"]])
    func aBackupUnderWriteLoadHoldsEveryChainAcknowledgedBeforeIt(flags: [String]) async throws {
        let daemon = try await DaemonProcess(in: TemporaryDirectory("sd"), arguments: flags)
        let ids = (0..<64).map { "k\($0)" }
        let setup = try await LineClient.connect(daemon.socketPath)
        for id in ids {
            _ = try await setup.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","command":{"type":"create"}}"#)
        }
        await setup.close()

        let acknowledged = AcknowledgedChains()
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        guard let client = try? await LineClient.connect(daemon.socketPath) else { return }
                        var index = writer
                        while !Task.isCancelled {
                            let id = ids[index % ids.count]
                            index += 5
                            guard let reply = try? await client.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","commands":[{"type":"increment"},{"type":"increment"}]}"#),
                                  let position = reply["position"]?.integerValue, let version = reply["version"]?.integerValue
                            else { break }
                            acknowledged.record(position: position, id: id, version: version)
                        }
                        await client.close()
                    }
                }
            }
        }
        try await waitUntil(timeout: .seconds(120)) { acknowledged.count >= 2000 }

        let before = acknowledged.all
        let restore = TemporaryDirectory("restore")
        let copy = restore.file("data")
        let started = ContinuousClock.now
        let backup = try await ToolRun.run("sourced", ["backup", "--data-dir", daemon.dataDirectory, copy])
        let took = ContinuousClock.now - started
        let during = acknowledged.count - before.count
        load.cancel()
        await load.value
        #expect(backup.status == 0 && backup.output.contains("the copy verifies"), "\(backup.output)\(backup.errors)")
        #expect(during > 0, "the load went on while the backup ran")
        let retains = flags.contains("--retain-global")
        #expect(retains || !backup.output.contains(" 0 snapshots"), "snapshots are copied: \(backup.output)")
        print("backup \(flags): \(before.count) chains acknowledged before it, \(during) while it ran (\(took)): \(backup.output)")

        let check = try await ToolRun.run("sourced", ["check", "--data-dir", copy])
        #expect(check.status == 0 && check.output.contains("all verify"), "\(check.output)\(check.errors)")

        let restored = try await DaemonProcess(in: restore, arguments: flags)
        let client = try await LineClient.connect(restored.socketPath)
        var newest: [String: Int64] = [:]
        for chain in before.values {
            newest[chain.id] = max(newest[chain.id] ?? 0, chain.version)
        }
        var versions: [String: Int64] = [:]
        for id in ids {
            let state = try await client.request(line: #"{"op":"get","model":"counter","id":"\#(id)"}"#)
            let version = try #require(state["version"]?.integerValue, "\(state)")
            versions[id] = version
            #expect(version >= newest[id] ?? 1 && state["state"]?["count"] == .integer(version - 1), "\(id): \(state)")
            let events = try await client.request(line: #"{"op":"events","model":"counter","id":"\#(id)","limit":10000}"#)
            let listed = events["events"]?.arrayValue ?? []
            #expect(listed.map { $0["version"]?.integerValue } == (1...version).map { $0 }, "\(id): every version once")
            #expect(listed.dropFirst().allSatisfy { $0["event"]?["type"] == "incremented" }, "\(id)")
        }
        if !retains {
            // Retention would have dropped the start of the global log: only without it is the
            // whole log read back.
            let last = try #require(try await client.request(line: #"{"op":"stats"}"#)["stats"]?["position"]?.integerValue)
            let watcher = try await LineClient.connect(restored.socketPath)
            _ = try await watcher.subscribe(from: 0)
            let chains = try await watcher.readEvents(through: last).filter(\.endsChain)
            #expect(chains.map(\.position) == Array(1...last), "the global log is gapless")
            let byPosition = Dictionary(uniqueKeysWithValues: chains.map { ($0.position, $0) })
            for (position, chain) in before {
                #expect(byPosition[position]?.id == chain.id && byPosition[position]?.version == chain.version, "acknowledged position \(position)")
            }
            await watcher.close()
        }
        let next = try await client.request(line: #"{"op":"execute","model":"counter","id":"k0","commands":[{"type":"increment"},{"type":"increment"}]}"#)
        #expect(next["version"]?.integerValue == (versions["k0"] ?? 0) + 2, "\(next)")
        let fresh = try await client.request(line: #"{"op":"execute","model":"counter","id":"fresh","command":{"type":"create"}}"#)
        #expect(fresh["version"] == .integer(1), "\(fresh)")
        await client.close()
        #expect(await restored.stop() == 0)
        #expect(await daemon.stop() == 0)
    }
}
