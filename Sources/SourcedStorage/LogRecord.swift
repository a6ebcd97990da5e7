/// The fixed-size header of one log record; see `docs/storage-format.md` for the exact bytes.
///
/// One record holds one committed command chain, so a chain is atomic on disk: either its whole
/// record verifies, or none of its events exist.
public struct LogRecordHeader: Hashable, Sendable {
    /// Bytes of JSON payload after the header (and after the command stamp, if there is one).
    public var payloadLength: Int
    /// Events in the payload; at least 1.
    public var eventCount: Int
    /// The aggregate version of the first event; the record holds versions
    /// `firstVersion ... firstVersion + eventCount - 1`.
    public var firstVersion: UInt64
    /// The global commit position of the chain, or 0 where none was assigned.
    public var position: UInt64
    /// When the chain was decided (wall clock, not monotonic), in microseconds since the Unix epoch.
    public var timestamp: Int64
    /// Where the record's command stamp lies, if it has one (record format 2). Only ``LogRecord/read(_:at:)``
    /// sets it; ``LogRecord/append(_:stamp:payload:to:)`` takes the stamp itself.
    public var command: RecordedCommand?

    public init(payloadLength: Int, eventCount: Int, firstVersion: UInt64, position: UInt64 = 0, timestamp: Int64, command: RecordedCommand? = nil) {
        self.payloadLength = payloadLength
        self.eventCount = eventCount
        self.firstVersion = firstVersion
        self.position = position
        self.timestamp = timestamp
        self.command = command
    }

    /// The version of the record's last event.
    public var lastVersion: UInt64 { firstVersion + UInt64(eventCount) - 1 }

    /// The bytes the whole record takes: header, stamp and payload.
    public var recordLength: Int { LogRecord.headerSize + (command.map { 9 + $0.id.count } ?? 0) + payloadLength }
}

/// Encodes and decodes log records.
///
/// Layout, little-endian: `u32 payload length | u16 format | u16 event count | u64 first version |
/// u64 position | i64 timestamp | u32 CRC-32C | payload`. The checksum covers the 32 header bytes
/// before it and the payload, so a torn or flipped byte anywhere in a record is detected. Format
/// 2 is format 1 whose payload starts with a ``CommandStamp`` (`u8 id length | id | u64
/// fingerprint`), counted in the payload length; a chain without a command id is written as
/// format 1, so logs without ids are unchanged.
public enum LogRecord {
    /// Bytes before the payload.
    public static let headerSize = 36
    /// The record format of a chain without a command id.
    public static let formatVersion: UInt16 = 1
    /// The record format of a chain with a command id: the newest this build reads.
    public static let stampedFormatVersion: UInt16 = 2
    /// The formats this build reads.
    public static let formatVersions: ClosedRange<UInt16> = formatVersion...stampedFormatVersion
    /// The largest payload accepted, so a corrupt length can never make a reader allocate gigabytes.
    public static let maximumPayloadSize = 16 << 20
    /// The most events one record (one chain) can carry.
    public static let maximumEventCount = Int(UInt16.max)

    static let checksumOffset = 32

    /// Appends one complete record for `payload` to `buffer`: of format 2 with `stamp`, else of
    /// format 1 (`header.command` is not read).
    public static func append(_ header: LogRecordHeader, stamp command: CommandStamp? = nil, payload: [UInt8], to buffer: inout [UInt8]) {
        let stampSize = command?.encodedSize ?? 0
        precondition(header.payloadLength == payload.count && stampSize + payload.count <= maximumPayloadSize)
        precondition((1...maximumEventCount).contains(header.eventCount) && header.firstVersion > 0)
        let start = buffer.count
        buffer.reserveCapacity(start + headerSize + stampSize + payload.count)
        buffer.appendLE(UInt32(stampSize + payload.count))
        buffer.appendLE(command == nil ? formatVersion : stampedFormatVersion)
        buffer.appendLE(UInt16(header.eventCount))
        buffer.appendLE(header.firstVersion)
        buffer.appendLE(header.position)
        buffer.appendLE(header.timestamp)
        var stamp: [UInt8] = []
        command?.append(to: &stamp)
        var crc = CRC32C()
        buffer.withUnsafeBytes { crc.update(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        crc.update(stamp)
        crc.update(payload)
        buffer.appendLE(crc.value)
        buffer.append(contentsOf: stamp)
        buffer.append(contentsOf: payload)
    }

    /// What is found at one offset of a log.
    public enum ReadResult: Equatable, Sendable {
        /// A complete record whose checksum verifies; its payload is `payload` of the input.
        case record(LogRecordHeader, payload: Range<Int>)
        /// The bytes end before the record does.
        case truncated
        /// The bytes there are no valid record, for the reason given.
        case invalid(String)
        /// A complete header of a record format this build does not know (a newer sourced wrote it).
        case unsupportedFormat(UInt16)
    }

    /// Reads the record starting at `offset` of `bytes`.
    public static func read(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ReadResult {
        guard bytes.count - offset >= headerSize else { return .truncated }
        let length = Int(bytes.loadLE(UInt32.self, at: offset))
        let format = bytes.loadLE(UInt16.self, at: offset + 4)
        let eventCount = Int(bytes.loadLE(UInt16.self, at: offset + 6))
        let firstVersion = bytes.loadLE(UInt64.self, at: offset + 8)
        guard formatVersions.contains(format) else {
            return (stampedFormatVersion + 1...0xFF).contains(format) ? .unsupportedFormat(format) : .invalid("unknown record format \(format)")
        }
        guard length <= maximumPayloadSize else { return .invalid("payload length \(length) exceeds the maximum") }
        guard eventCount > 0, firstVersion > 0 else { return .invalid("record header holds no events") }
        let payloadStart = offset + headerSize
        guard bytes.count - payloadStart >= length else { return .truncated }
        var crc = CRC32C()
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + checksumOffset)]))
        crc.update(UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<(payloadStart + length)]))
        guard crc.value == bytes.loadLE(UInt32.self, at: offset + checksumOffset) else {
            return .invalid("checksum mismatch")
        }
        var command: RecordedCommand?
        if format == stampedFormatVersion {
            command = RecordedCommand(bytes, at: payloadStart, end: payloadStart + length)
            guard command != nil else { return .invalid("record of format 2 holds no valid command id") }
        }
        let eventsStart = payloadStart + (command.map { 9 + $0.id.count } ?? 0)
        let header = LogRecordHeader(
            payloadLength: payloadStart + length - eventsStart,
            eventCount: eventCount,
            firstVersion: firstVersion,
            position: bytes.loadLE(UInt64.self, at: offset + 16),
            timestamp: bytes.loadLE(Int64.self, at: offset + 24),
            command: command
        )
        return .record(header, payload: eventsStart..<(payloadStart + length))
    }

}

extension [UInt8] {
    /// Appends `value`'s bytes, little-endian.
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
