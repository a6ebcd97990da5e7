import Foundation
import Glibc
import SourcedTestSupport
import Testing

/// `sourced check`: the offline verifier.
@Suite struct CheckTests {
    @Test func reportsRepairsTornTailsAndNeverTouchesCorruption() async throws {
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(daemon.socketPath)
        for id in ["torn", "broken"] {
            _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","commands":[{"type":"create"},{"type":"increment"}]}"#)
            _ = try await client.request(line: #"{"op":"execute","model":"counter","id":"\#(id)","command":{"type":"increment"}}"#)
        }
        let busy = try await ToolRun.run("sourced", ["check", "--data-dir", daemon.dataDirectory])
        #expect(busy.status != 0 && busy.errors.contains("in use by another sourced"), "never checks under a running daemon")
        await client.close()
        #expect(await daemon.stop() == 0)

        let clean = try await ToolRun.run("sourced", ["check", "--data-dir", daemon.dataDirectory])
        #expect(clean.status == 0 && clean.output.contains("checked 3 logs, 8 records: all verify"), "\(clean.output)\(clean.errors)")

        let torn = directory.file("data/aggregates/counter/torn.log")
        let tornBytes = try contents(of: torn)
        try write(tornBytes + [9, 9, 9], to: torn)
        let broken = directory.file("data/aggregates/counter/broken.log")
        var brokenBytes = try contents(of: broken)
        brokenBytes[40] ^= 0xFF
        try write(brokenBytes, to: broken)

        let found = try await ToolRun.run("sourced", ["check", "--data-dir", daemon.dataDirectory])
        #expect(found.status == 1)
        #expect(found.output.contains("\(torn): torn tail of 3 bytes at offset \(tornBytes.count) (aggregate counter/torn)"))
        #expect(found.output.contains("\(broken): corrupt at offset 0 (aggregate counter/broken): checksum mismatch"))

        let repaired = try await ToolRun.run("sourced", ["check", "--repair", "--data-dir", daemon.dataDirectory])
        #expect(repaired.status == 1, "corruption remains")
        #expect(try contents(of: torn) == tornBytes, "the torn tail is cut off")
        #expect(try contents(of: "\(torn).torn-\(tornBytes.count)") == [9, 9, 9], "and its bytes saved aside")
        #expect(try contents(of: broken) == brokenBytes, "corruption is never rewritten")
    }

    @Test func refusesADirectoryThatIsNoDataDirectory() async throws {
        let run = try await ToolRun.run("sourced", ["check", "--data-dir", TemporaryDirectory("nd").path])
        #expect(run.status != 0 && run.errors.contains("is not a sourced data directory"))
    }
}
