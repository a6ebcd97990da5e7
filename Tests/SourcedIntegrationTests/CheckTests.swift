import Foundation
import Glibc
import SourcedTestSupport
import Testing

/// `sourced check`: the offline verifier, which cross-checks every aggregate log against the
/// global log and repairs what the global log holds.
@Suite struct CheckTests {
    /// Where the records of a log start (up to the zeros that follow the global log's records).
    static func recordStarts(_ bytes: [UInt8]) -> [Int] {
        var starts: [Int] = []
        var offset = 0
        while offset + 36 <= bytes.count, bytes[offset + 4] != 0 {
            starts.append(offset)
            offset += 36 + Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
        }
        return starts
    }

    /// Issue 13's cases on files: a flipped byte in the first, a middle and the last record; a
    /// deleted log; a log cut back (what a power loss after a `syncfs` that synced nothing
    /// leaves); damage whose chain the global log lost too. `check` reports each with file and
    /// offset, `--repair` restores all but the last from the global log, and the daemon then
    /// serves them while the last answers `corrupt`.
    @Test func reportsEachDamageAndRepairsWhatTheGlobalLogHolds() async throws {
        let directory = TemporaryDirectory("sd")
        var daemon = try await DaemonProcess(in: directory)
        let data = daemon.dataDirectory
        let client = try await LineClient.connect(daemon.socketPath)
        // Three records each (versions 1, 2, 3–4); `lost` last, so that its last chain is the
        // global log's last record.
        let ids = ["first", "middle", "last", "deleted", "behind", "lost"]
        for commands in [#"[{"type":"create"}]"#, #"[{"type":"increment"}]"#, #"[{"type":"increment"},{"type":"increment"}]"#] {
            for id in ids {
                _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","commands":\#(commands)}"#)
            }
        }
        let busy = try await ToolRun.run("sourced", ["check", "--data-dir", data])
        #expect(busy.status != 0 && busy.errors.contains("in use by another sourced"), "never checks under a running daemon")
        await client.close()
        #expect(await daemon.stop() == 0)

        let clean = try await ToolRun.run("sourced", ["check", "--data-dir", data])
        #expect(clean.status == 0 && clean.output.contains("checked 7 logs, 36 records, 0 snapshots: all verify"), "\(clean.output)\(clean.errors)")

        func log(_ id: String) -> String { data + "/aggregates/counter/\(id).log" }
        var original: [String: [UInt8]] = [:]
        var starts: [String: [Int]] = [:]
        for id in ids {
            original[id] = try contents(of: log(id))
            starts[id] = Self.recordStarts(original[id]!)
        }
        func flip(_ id: String, record: Int) throws {
            var bytes = original[id]!
            bytes[starts[id]![record] + 40] ^= 0x04
            try write(bytes, to: log(id))
        }
        try flip("first", record: 0)
        try flip("middle", record: 1)
        try flip("last", record: 2)
        try FileManager.default.removeItem(atPath: log("deleted"))
        try write(Array(original["behind"]![..<starts["behind"]![2]]), to: log("behind"))
        try flip("lost", record: 2)
        let global = data + "/global/00000000000000000001.log"
        let globalBytes = try contents(of: global)
        try write(Array(globalBytes[..<Self.recordStarts(globalBytes).last!]), to: global)
        try write([UInt8](repeating: 0, count: 12), to: data + "/global.checkpoint")

        let found = try await ToolRun.run("sourced", ["check", "--data-dir", data])
        #expect(found.status == 1)
        let expected = [
            "\(log("first")): \(starts["first"]![1]) bytes at offset 0 do not verify (checksum mismatch) (aggregate counter/first); --repair fixes it by replacing them with versions 1–1 from the global log",
            "\(log("middle")): \(starts["middle"]![2] - starts["middle"]![1]) bytes at offset \(starts["middle"]![1]) do not verify (checksum mismatch) (aggregate counter/middle); --repair fixes it by replacing them with versions 2–2 from the global log",
            "\(log("last")): \(original["last"]!.count - starts["last"]![2]) bytes at offset \(starts["last"]![2]) do not verify (checksum mismatch) (aggregate counter/last); --repair fixes it by replacing them with versions 3–4 from the global log",
            "\(log("deleted")): is missing, but the global log holds versions 1–4 (aggregate counter/deleted); --repair fixes it by rebuilding it from the global log",
            "\(log("behind")): ends at version 2 (offset \(starts["behind"]![2])), but the global log holds versions 3–4 (aggregate counter/behind); --repair fixes it by appending them from the global log",
            "\(log("lost")): corrupt at offset \(starts["lost"]![2]) (aggregate counter/lost): checksum mismatch; no intact copy holds what follows version 2",
        ]
        for line in expected {
            #expect(found.output.contains(line), "\(line)\nnot in\n\(found.output)")
        }
        #expect(found.output.contains("checked 6 logs, 27 records, 0 snapshots: 6 with problems"), "\(found.output)")

        let repaired = try await ToolRun.run("sourced", ["check", "--repair", "--data-dir", data])
        #expect(repaired.status == 1, "the damage no copy covers remains")
        #expect(repaired.output.contains("\(log("first")): \(starts["first"]![1]) bytes at offset 0 do not verify (checksum mismatch) (aggregate counter/first); fixed by replacing them with versions 1–1 from the global log; the replaced bytes are kept in \(log("first")).damaged-0"), "\(repaired.output)")
        for id in ["first", "middle", "last", "deleted", "behind"] {
            #expect(try contents(of: log(id)) == original[id], "\(id) is restored byte for byte")
        }
        #expect(try contents(of: "\(log("last")).torn-\(starts["last"]![2])").count == original["last"]!.count - starts["last"]![2])
        var damaged = original["lost"]!
        damaged[starts["lost"]![2] + 40] ^= 0x04
        #expect(try contents(of: log("lost")) == damaged, "damage no copy covers is never touched")

        let after = try await ToolRun.run("sourced", ["check", "--data-dir", data])
        #expect(after.status == 1 && after.output.contains("checked 7 logs, 34 records, 0 snapshots: 1 with problems"), "\(after.output)")

        daemon = try await DaemonProcess(in: directory)
        let served = try await LineClient.connect(daemon.socketPath)
        for id in ["first", "middle", "last", "deleted", "behind"] {
            #expect(try await served.request(line: #"{"op":"get","model":"counter","id":"\#(id)"}"#)["version"] == .integer(4), "\(id)")
        }
        let lost = try await served.request(line: #"{"op":"get","model":"counter","id":"lost"}"#)
        #expect(lost["error"]?["code"] == "corrupt", "\(lost)")
        await served.close()
        #expect(await daemon.stop() == 0)
    }

    /// A snapshot with a flipped bit is reported by `check` and deleted by `--repair`; a good one
    /// is left, and the daemon serves both aggregates from their logs.
    @Test func reportsAndDeletesABadSnapshot() async throws {
        let directory = TemporaryDirectory("sd")
        var daemon = try await DaemonProcess(in: directory, arguments: ["--snapshot-every", "2"])
        let data = daemon.dataDirectory
        let client = try await LineClient.connect(daemon.socketPath)
        // A snapshot at versions 2 and 4 of each; one asked for while the last is written is skipped.
        for (written, commands) in [(2, ["create", "increment"]), (4, ["increment", "increment"])] {
            for command in commands {
                for id in ["s1", "s2"] {
                    _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","command":{"type":"\#(command)"}}"#)
                }
            }
            try await waitUntil { try await client.request(line: #"{"op":"stats"}"#)["stats"]?["snapshots_written"] == .integer(Int64(written)) }
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        func snapshot(_ id: String) -> String { data + "/snapshots/counter/\(id).log.snap" }

        let clean = try await ToolRun.run("sourced", ["check", "--data-dir", data])
        #expect(clean.status == 0 && clean.output.contains("checked 3 logs, 16 records, 2 snapshots: all verify"), "\(clean.output)\(clean.errors)")

        var bytes = try contents(of: snapshot("s1"))
        bytes[bytes.count - 8] ^= 0x01
        try write(bytes, to: snapshot("s1"))
        let found = try await ToolRun.run("sourced", ["check", "--data-dir", data])
        let problem = "\(snapshot("s1")): snapshot checksum mismatch (damaged or torn) (snapshot of aggregate counter/s1)"
        #expect(found.status == 1 && found.output.contains(problem + "; a load ignores it and replays the log; --repair deletes it"), "\(found.output)")
        #expect(found.output.contains("2 snapshots: 1 with problems"), "\(found.output)")

        let repaired = try await ToolRun.run("sourced", ["check", "--repair", "--data-dir", data])
        #expect(repaired.status == 0 && repaired.output.contains(problem + "; deleted"), "\(repaired.output)")
        #expect(!FileManager.default.fileExists(atPath: snapshot("s1")) && FileManager.default.fileExists(atPath: snapshot("s2")))

        daemon = try await DaemonProcess(in: directory)
        let served = try await LineClient.connect(daemon.socketPath)
        for id in ["s1", "s2"] {
            let reply = try await served.request(line: #"{"op":"get","model":"counter","id":"\#(id)"}"#)
            #expect(reply["version"] == .integer(4) && reply["state"]?["count"] == .integer(3), "\(reply)")
        }
        await served.close()
        #expect(await daemon.stop() == 0)
    }

    @Test func refusesADirectoryThatIsNoDataDirectory() async throws {
        let run = try await ToolRun.run("sourced", ["check", "--data-dir", TemporaryDirectory("nd").path])
        #expect(run.status != 0 && run.errors.contains("is not a sourced data directory"))
    }
}
