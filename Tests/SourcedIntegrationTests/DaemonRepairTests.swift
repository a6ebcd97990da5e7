import Foundation
import Glibc
import SourcedWire
import SourcedTestSupport
import Testing

/// The real daemon over aggregate logs damaged while it was stopped (issue 13's reproductions):
/// what the global log still holds is repaired at start or load, and damage it does not hold makes
/// that aggregate alone answer `corrupt`; the daemon always starts.
@Suite struct DaemonRepairTests {
    /// Runs `lines` on a fresh daemon, stops it, and returns its directory and data directory.
    func prepare(_ lines: [String]) async throws -> (directory: TemporaryDirectory, data: String) {
        let directory = TemporaryDirectory("sd")
        let daemon = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(daemon.socketPath)
        for line in lines {
            #expect(try await client.request(line: line)["ok"] == true, "\(line)")
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        return (directory, daemon.dataDirectory)
    }

    /// Flips the bits of `mask` in the byte at `offset` of the file at `path` ; returns the damaged bytes.
    func flip(_ mask: UInt8, at offset: Int, of path: String) throws -> [UInt8] {
        var bytes = try contents(of: path)
        bytes[offset] ^= mask
        try write(bytes, to: path)
        return bytes
    }

    /// `other` at version 1 (position 1), then `victim` at version 3 in three records (positions 2–4).
    static let victimAndOther = [
        execute("other", "create"), execute("victim", "create"), execute("victim", "increment"), execute("victim", "increment"),
    ]

    static func execute(_ id: String, _ commands: String...) -> String {
        #"{"op":"execute","model":"counter","id":"\#(id)","commands":[\#(commands.map { #"{"type":"\#($0)"}"# }.joined(separator: ","))]}"#
    }

    /// Versions of every event of `id` in the global stream, in order.
    func streamedVersions(of id: String, _ daemon: DaemonProcess) async throws -> [Int64] {
        let client = try await LineClient.connect(daemon.socketPath)
        let stats = try await client.request(line: #"{"op":"stats"}"#)
        await client.close()
        let last = try #require(stats["stats"]?["position"]?.integerValue)
        let watcher = try await LineClient.connect(daemon.socketPath)
        _ = try await watcher.subscribe(from: 0)
        let events = try await watcher.readEvents(through: last)
        await watcher.close()
        return events.filter { $0.id == id }.map(\.version)
    }

    /// Issue 13, 3: a flipped byte in the only record of `c9.log` was cut as a torn tail, `c9`
    /// went back to version 0, and a new `create` put a second `c9 v1` into the global stream.
    @Test func aFlippedByteInTheOnlyRecordIsRepairedNotCutOff() async throws {
        let (directory, data) = try await prepare([Self.execute("c9", "create")])
        let path = data + "/aggregates/counter/c9.log"
        _ = try flip(0xFF, at: 40, of: path)

        let daemon = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"get","model":"counter","id":"c9"}"#)["version"] == .integer(1))
        let again = try await client.request(line: Self.execute("c9", "create"))
        #expect(again["error"]?["code"] == "rejected", "\(again)")
        #expect(try await streamedVersions(of: "c9", daemon) == [1], "one c9 v1 in the global stream, never two")
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(daemon.log.contains("repaired aggregate log from the global log"), "the repair is logged: \(daemon.log)")
        #expect(daemon.log.contains("made durable by"), "how aggregate logs are synced is logged at start")
        #expect(FileManager.default.fileExists(atPath: "\(path).torn-0"), "the damaged bytes are kept")
    }

    /// Issue 13, 4: a flipped byte in the middle of one aggregate's log stopped the daemon from
    /// starting (`cannot open the data directory: ... victim.log is corrupt at byte 126`).
    @Test func aFlippedByteInTheMiddleOfALogNeitherStopsTheStartNorLosesAnything() async throws {
        let (directory, data) = try await prepare(Self.victimAndOther)
        let path = data + "/aggregates/counter/victim.log"
        let original = try contents(of: path)
        _ = try flip(0x01, at: original.count / 2, of: path)

        let daemon = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(daemon.socketPath)
        #expect(try await client.request(line: #"{"op":"get","model":"counter","id":"victim"}"#)["version"] == .integer(3))
        #expect(try await client.request(line: Self.execute("victim", "increment"))["version"] == .integer(4))
        #expect(try await streamedVersions(of: "victim", daemon) == [1, 2, 3, 4])
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(try contents(of: path).prefix(original.count) == original[...])
    }

    /// Damage the global log no longer holds (its last records were lost too) makes that aggregate
    /// answer `corrupt`, naming file and offset; the daemon starts and serves the others.
    @Test func damageNoIntactCopyHoldsMakesOnlyThatAggregateCorrupt() async throws {
        let (directory, data) = try await prepare(Self.victimAndOther)
        // Cut the global log after position 2 (victim's first chain); the checkpoint before it.
        let global = data + "/global/00000000000000000001.log"
        let globalBytes = try contents(of: global)
        let first = Int(globalBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) + 36
        let second = first + Int(globalBytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: first, as: UInt32.self) }) + 36
        try write(Array(globalBytes[..<second]), to: global)
        try write([UInt8](repeating: 0, count: 12), to: data + "/global.checkpoint")
        let path = data + "/aggregates/counter/victim.log"
        let secondRecord = Int(try contents(of: path).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) + 36
        let bytes = try flip(0x01, at: secondRecord + 40, of: path)

        let daemon = try await DaemonProcess(in: directory)
        let client = try await LineClient.connect(daemon.socketPath)
        let victim = try await client.request(line: Self.execute("victim", "increment"))
        #expect(victim["error"]?["code"] == "corrupt", "\(victim)")
        #expect(victim["error"]?["message"]?.stringValue?.contains("\(path) is corrupt at byte \(secondRecord)") == true, "\(victim)")
        #expect(try await client.request(line: Self.execute("other", "increment"))["version"] == .integer(2))
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(daemon.log.contains("aggregate log cannot be repaired"), "\(daemon.log)")
        #expect(try contents(of: path) == bytes, "never rewritten")
    }
}
