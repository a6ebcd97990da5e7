import SourcedStorage
import Testing

@Suite struct CRC32CTests {
    @Test func matchesTheReferenceValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func incrementalUpdatesEqualOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            var crc = CRC32C()
            crc.update(bytes[..<split])
            crc.update(bytes[split...])
            #expect(crc.value == CRC32C.checksum(bytes))
        }
    }
}

@Suite struct LogRecordTests {
    static let payload = Array(#"[{"type":"incremented","count":2}]"#.utf8)
    static let header = LogRecordHeader(payloadLength: payload.count, eventCount: 1, firstVersion: 3, timestamp: 1_700_000_000_000_000)

    /// The exact bytes of `docs/storage-format.md`'s example, computed independently (Python).
    /// Any change here is a change of the on-disk format and needs a new format version.
    @Test func encodesTheDocumentedBytes() {
        var record: [UInt8] = []
        LogRecord.append(Self.header, payload: Self.payload, to: &record)
        let golden = "22000000010001000300000000000000000000000000000000401e18240a0600a58ef41b"
            + "5b7b2274797065223a22696e6372656d656e746564222c22636f756e74223a327d5d"
        #expect(record.map { String($0, radix: 16).leftPadded(to: 2) }.joined() == golden)
    }

    /// Format 2: the same record with a command id ("a1", fingerprint 0x0102030405060708) before
    /// the events, as `docs/storage-format.md` gives it (computed independently in Python).
    @Test func encodesTheDocumentedBytesOfAStampedRecord() {
        let stamp = CommandStamp(id: Array("a1".utf8), fingerprint: 0x0102_0304_0506_0708)
        var record: [UInt8] = []
        LogRecord.append(Self.header, stamp: stamp, payload: Self.payload, to: &record)
        let golden = "2d000000020001000300000000000000000000000000000000401e18240a0600c43ac843"
            + "0261310807060504030201"
            + "5b7b2274797065223a22696e6372656d656e746564222c22636f756e74223a327d5d"
        #expect(record.map { String($0, radix: 16).leftPadded(to: 2) }.joined() == golden)
        // Read back: the stamp in the header, the payload range holding the events only.
        guard case .record(let header, let payload) = record.withUnsafeBytes({ LogRecord.read($0, at: 0) }) else {
            Issue.record("the stamped record does not read back")
            return
        }
        #expect(header.command?.id == 37..<39 && header.command?.idHash == stamp.idHash && header.command?.fingerprint == stamp.fingerprint)
        #expect(payload == (record.count - Self.payload.count)..<record.count && header.payloadLength == Self.payload.count)
        #expect(header.recordLength == record.count)
        #expect(record.withUnsafeBytes { CommandStamp(header.command!, in: $0) } == stamp)
        for index in record.indices {
            var damaged = record
            damaged[index] ^= 0x10
            if case .record = damaged.withUnsafeBytes({ LogRecord.read($0, at: 0) }) {
                Issue.record("a flipped byte \(index) of a stamped record went undetected")
            }
        }
    }

    @Test func readsBackWhatItWrote() {
        var bytes: [UInt8] = [0xAA, 0xBB]
        LogRecord.append(Self.header, payload: Self.payload, to: &bytes)
        let result = bytes.withUnsafeBytes { LogRecord.read($0, at: 2) }
        #expect(result == .record(Self.header, payload: (2 + LogRecord.headerSize)..<bytes.count))
    }

    @Test func everyFlippedBitIsDetected() {
        var record: [UInt8] = []
        LogRecord.append(Self.header, payload: Self.payload, to: &record)
        for index in record.indices {
            for bit in 0..<8 {
                var damaged = record
                damaged[index] ^= 1 << bit
                let result = damaged.withUnsafeBytes { LogRecord.read($0, at: 0) }
                if case .record = result {
                    Issue.record("flip of bit \(bit) of byte \(index) went undetected")
                }
            }
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
