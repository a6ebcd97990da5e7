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
        newer[log.starts[1] + 4] = 2
        guard case .corrupt(let offset, let reason) = scan(newer).tail else {
            Issue.record("a format-2 record was not refused")
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
