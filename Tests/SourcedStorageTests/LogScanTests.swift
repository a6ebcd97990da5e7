import SourcedCore
import SourcedStorage
import Testing

/// A log of `count` one-event records, and the offset where each record starts.
func makeLog(records count: Int) -> (bytes: [UInt8], starts: [Int]) {
    var bytes: [UInt8] = []
    var starts: [Int] = []
    for version in 1...UInt64(count) {
        starts.append(bytes.count)
        let payload = Array(#"[{"type":"incremented","count":\#(version)}]"#.utf8)
        let header = LogRecordHeader(payloadLength: payload.count, eventCount: 1, firstVersion: version, timestamp: 0)
        LogRecord.append(header, payload: payload, to: &bytes)
    }
    return (bytes, starts)
}

func scan(_ bytes: [UInt8]) -> LogScan {
    bytes.withUnsafeBytes { LogScan($0) }
}

@Suite struct LogScanTests {
    @Test func aCompleteLogIsClean() {
        let log = makeLog(records: 3)
        let result = scan(log.bytes)
        #expect(result.tail == .clean)
        #expect(result.version == 3 && result.recordCount == 3 && result.validLength == log.bytes.count)
    }

    @Test func truncationAnywhereInTheLastRecordIsATornTail() {
        let log = makeLog(records: 3)
        let last = log.starts[2]
        for length in (last + 1)..<log.bytes.count {
            let result = scan(Array(log.bytes[..<length]))
            #expect(result.tail == .torn(offset: last), "cut at \(length)")
            #expect(result.version == 2 && result.validLength == last, "cut at \(length)")
        }
        #expect(scan(Array(log.bytes[..<last])).tail == .clean)
    }

    @Test func zeroFilledTailIsTorn() {
        let log = makeLog(records: 2)
        let result = scan(log.bytes + [UInt8](repeating: 0, count: 4096))
        #expect(result.tail == .torn(offset: log.bytes.count))
        #expect(result.version == 2)
    }

    @Test func damageFollowedByValidRecordsIsCorruption() {
        let log = makeLog(records: 3)
        for index in log.starts[0]..<log.starts[1] {
            var damaged = log.bytes
            damaged[index] ^= 0x40
            let result = scan(damaged)
            guard case .corrupt(let offset, _) = result.tail else {
                Issue.record("flip at byte \(index) gave \(result.tail)")
                continue
            }
            #expect(offset == 0 && result.version == 0)
        }
    }

    @Test func aVersionGapIsCorruption() {
        let log = makeLog(records: 3)
        let withoutSecond = Array(log.bytes[..<log.starts[1]] + log.bytes[log.starts[2]...])
        #expect(scan(withoutSecond).tail == .corrupt(offset: log.starts[1], reason: "version 3 follows version 1"))
    }

    /// A downgrade must not cut off what a newer build wrote as if it were a torn write.
    @Test func aNewerRecordFormatIsNeverCutOff() {
        let log = makeLog(records: 2)
        var newer = log.bytes
        newer[log.starts[1] + 4] = 3
        guard case .corrupt(let offset, let reason) = scan(newer).tail else {
            Issue.record("a format-3 record was not refused")
            return
        }
        #expect(offset == log.starts[1] && reason.contains("newer"))
    }

    @Test func handsEveryValidRecordToTheCallerInOrder() {
        let log = makeLog(records: 5)
        var versions: [UInt64] = []
        _ = log.bytes.withUnsafeBytes { LogScan($0) { versions.append($0.header.firstVersion) } }
        #expect(versions == [1, 2, 3, 4, 5])
    }
}

/// A global log of `count` one-event records of aggregate counter/c1, positions 1 ... count, and
/// the offset where each record starts.
func makeGlobalLog(records count: Int, from first: UInt64 = 1) -> (bytes: [UInt8], starts: [Int]) {
    let key = AggregateKey(model: "counter", id: try! AggregateID("c1"))
    var bytes: [UInt8] = []
    var starts: [Int] = []
    for position in first..<(first + UInt64(count)) {
        starts.append(bytes.count)
        let payload = GlobalPayload.encode(key, events: Array(#"[{"type":"incremented","count":\#(position)}]"#.utf8))
        let header = LogRecordHeader(payloadLength: payload.count, eventCount: 1, firstVersion: position, position: position, timestamp: 0)
        LogRecord.append(header, payload: payload, to: &bytes)
    }
    return (bytes, starts)
}

func scanGlobal(_ bytes: [UInt8]) -> LogScan {
    bytes.withUnsafeBytes { LogScan($0, sequencing: .positions, layout: .preallocated) }
}

/// The global log's zero-filled space (`LogScan.Layout.preallocated`).
@Suite struct PreallocatedLogScanTests {
    /// However many zeros follow the last record, fewer than a header or a whole chunk's worth,
    /// they are the log's clean end.
    @Test(arguments: [1, 7, 35, 36, 37, 4096, 1 << 20])
    func zerosAfterTheLastRecordAreTheCleanEnd(zeros: Int) {
        let log = makeGlobalLog(records: 3)
        let result = scanGlobal(log.bytes + [UInt8](repeating: 0, count: zeros))
        #expect(result.tail == .clean)
        #expect(result.validLength == log.bytes.count && result.recordCount == 3 && result.position == 3)
    }

    @Test func aLogOfOnlyZerosIsEmptyAndClean() {
        let result = scanGlobal([UInt8](repeating: 0, count: 1 << 16))
        #expect(result.tail == .clean && result.validLength == 0 && result.recordCount == 0)
    }

    /// Aggregate logs are not preallocated: zeros after their records stay a torn tail.
    @Test func anAppendOnlyLogStillReadsZerosAsTorn() {
        let log = makeGlobalLog(records: 2)
        let bytes = log.bytes + [UInt8](repeating: 0, count: 4096)
        let result = bytes.withUnsafeBytes { LogScan($0, sequencing: .positions, layout: .appendOnly) }
        #expect(result.tail == .torn(offset: log.bytes.count))
    }

    /// What a power cut leaves of a record whose later pages were never written: it reads as
    /// zeros inside the record, and the checksum makes it a torn last record.
    @Test func aRecordEndingInZerosIsTorn() {
        let log = makeGlobalLog(records: 3)
        let last = log.starts[2]
        for kept in [1, 4, 20, LogRecord.headerSize, LogRecord.headerSize + 5, log.bytes.count - last - 1] {
            var bytes = Array(log.bytes[..<(last + kept)])
            bytes += [UInt8](repeating: 0, count: log.bytes.count - last - kept + 4096)
            let result = scanGlobal(bytes)
            #expect(result.tail == .torn(offset: last), "kept \(kept) bytes of the last record")
            #expect(result.validLength == last && result.position == 2, "kept \(kept) bytes of the last record")
        }
    }

    /// A zero header with anything non-zero after it is damage, never the clean end: torn if
    /// nothing plausible follows (a record whose first page was not written but a later one
    /// was), corrupt if a record does.
    @Test func aNonZeroByteAfterAZeroHeaderIsDamage() {
        let log = makeGlobalLog(records: 2)
        let zeros = [UInt8](repeating: 0, count: 4096)
        for at in [0, 35, 36, 100, 4095] {
            var tail = zeros
            tail[at] = 0x5A
            #expect(scanGlobal(log.bytes + tail).tail == .torn(offset: log.bytes.count), "non-zero byte at \(at)")
        }
        let next = makeGlobalLog(records: 1, from: 3).bytes
        let result = scanGlobal(log.bytes + zeros + next + zeros)
        #expect(result.tail == .corrupt(offset: log.bytes.count, reason: "unknown record format 0"))
        #expect(result.validLength == log.bytes.count)
    }
}
