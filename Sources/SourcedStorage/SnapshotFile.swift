import SourcedCore

/// One aggregate snapshot file: an aggregate's encoded state as of one version, and where in its
/// log that version ends; see "Snapshots" in `docs/storage-format.md` for the exact bytes.
///
/// A snapshot is an optimisation, never trusted over the log: a load uses it only if it decodes
/// with a valid checksum, names the aggregate's model and the model's current state version, and
/// the record of the log that ends at ``logLength`` starts at ``recordOffset``, verifies, ends at
/// ``version`` and has global position ``position``.
public struct SnapshotFile: Hashable, Sendable {
    /// The model whose state this is.
    public var model: String
    /// The model's state version when the state was encoded (`AggregateModel.stateVersion`).
    public var stateVersion: Int
    /// The aggregate version the state folds: the last version of the record ending at ``logLength``.
    public var version: UInt64
    /// The length of the log prefix the state folds: where the records not in the snapshot start.
    public var logLength: Int
    /// Where the last record the state folds starts.
    public var recordOffset: Int
    /// That record's global position.
    public var position: UInt64
    /// The state, as the model's coder encodes it (JSON).
    public var state: [UInt8]
    /// The engine's window of recent command ids at ``version``, opaque here; empty if none
    /// (then the file is written in format 1).
    public var commands: [UInt8]

    public init(
        model: String, stateVersion: Int, version: UInt64, logLength: Int, recordOffset: Int, position: UInt64,
        state: [UInt8], commands: [UInt8] = []
    ) {
        self.model = model
        self.stateVersion = stateVersion
        self.version = version
        self.logLength = logLength
        self.recordOffset = recordOffset
        self.position = position
        self.state = state
        self.commands = commands
    }

    /// The file's first 8 bytes: `SRCDSNAP`.
    static let magic: [UInt8] = Array("SRCDSNAP".utf8)
    /// The snapshot format of a file without command ids; format 2 adds them after the state.
    public static let formatVersion: UInt16 = 1
    /// The newest snapshot format this build reads.
    static let commandsFormatVersion: UInt16 = 2
    /// Bytes before the model name.
    static let headerSize = 56
    /// What follows a log's file name in its snapshot's: `c1.log` → `c1.log.snap`.
    public static let suffix = ".snap"

    /// The snapshot file name of `id`: its log's file name followed by ``suffix``.
    public static func fileName(for id: AggregateID) -> String {
        LogFileName.make(for: id) + suffix
    }

    /// The whole file: header, model name, state and the CRC-32C of everything before it.
    public func encoded() -> [UInt8] {
        let name = Array(model.utf8)
        precondition(name.count <= Int(UInt16.max) && state.count <= Int(UInt32.max) && version > 0)
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerSize + name.count + state.count + commands.count + 8)
        bytes.appendLE(commands.isEmpty ? Self.formatVersion : Self.commandsFormatVersion)
        bytes.appendLE(UInt16(name.count))
        bytes.appendLE(UInt32(state.count))
        bytes.appendLE(Int64(stateVersion))
        bytes.appendLE(version)
        bytes.appendLE(UInt64(logLength))
        bytes.appendLE(UInt64(recordOffset))
        bytes.appendLE(position)
        bytes.append(contentsOf: name)
        bytes.append(contentsOf: state)
        if !commands.isEmpty {
            bytes.appendLE(UInt32(commands.count))
            bytes.append(contentsOf: commands)
        }
        bytes.appendLE(CRC32C.checksum(bytes))
        return bytes
    }

    /// Decodes a whole snapshot file.
    /// - Throws: ``SnapshotRejection`` saying what does not verify.
    public init(decoding bytes: [UInt8]) throws(SnapshotRejection) {
        guard bytes.count >= Self.headerSize + 4, bytes.starts(with: Self.magic) else {
            throw .malformed("it is no snapshot file (\(bytes.count) bytes, no SRCDSNAP header)")
        }
        let fields = bytes.withUnsafeBytes { buffer in
            (
                format: buffer.loadLE(UInt16.self, at: 8), nameLength: Int(buffer.loadLE(UInt16.self, at: 10)),
                stateLength: Int(buffer.loadLE(UInt32.self, at: 12)), stateVersion: buffer.loadLE(Int64.self, at: 16),
                version: buffer.loadLE(UInt64.self, at: 24), logLength: buffer.loadLE(UInt64.self, at: 32),
                recordOffset: buffer.loadLE(UInt64.self, at: 40), position: buffer.loadLE(UInt64.self, at: 48),
                checksum: buffer.loadLE(UInt32.self, at: bytes.count - 4)
            )
        }
        guard (Self.formatVersion...Self.commandsFormatVersion).contains(fields.format) else {
            throw .malformed("snapshot format \(fields.format) is newer than the formats 1–2 this build reads")
        }
        let stateEnd = Self.headerSize + fields.nameLength + fields.stateLength
        var commandsLength = 0
        if fields.format == Self.commandsFormatVersion, bytes.count >= stateEnd + 8 {
            commandsLength = 4 + Int(bytes.withUnsafeBytes { $0.loadLE(UInt32.self, at: stateEnd) })
        }
        guard bytes.count == stateEnd + commandsLength + 4, fields.format == Self.formatVersion || commandsLength > 4 else {
            throw .malformed("its length \(bytes.count) does not match its header (a torn or truncated write)")
        }
        guard CRC32C.checksum(bytes[..<(bytes.count - 4)]) == fields.checksum else {
            throw .checksumMismatch
        }
        guard fields.version > 0, fields.recordOffset < fields.logLength, fields.logLength <= UInt64(Int.max) else {
            throw .malformed("its header is inconsistent (version \(fields.version), record at \(fields.recordOffset) ending at \(fields.logLength))")
        }
        let nameEnd = Self.headerSize + fields.nameLength
        model = String(decoding: bytes[Self.headerSize..<nameEnd], as: UTF8.self)
        stateVersion = Int(fields.stateVersion)
        version = fields.version
        logLength = Int(fields.logLength)
        recordOffset = Int(fields.recordOffset)
        position = fields.position
        state = Array(bytes[nameEnd..<stateEnd])
        commands = commandsLength > 0 ? Array(bytes[(stateEnd + 4)..<(stateEnd + commandsLength)]) : []
    }

    /// Checks that `log`, the bytes of the log from ``recordOffset`` to ``logLength``, is the
    /// record this snapshot says ends its prefix.
    /// - Throws: ``SnapshotRejection/logDisagrees(_:)`` if it is not.
    public func verifyCoveredRecord(_ log: [UInt8]) throws(SnapshotRejection) {
        let read = log.withUnsafeBytes { LogRecord.read($0, at: 0) }
        guard case .record(let header, let payload) = read, payload.upperBound == log.count else {
            throw .logDisagrees("the log holds no valid record at offset \(recordOffset) ending at offset \(logLength)")
        }
        guard header.lastVersion == version, header.position == position else {
            throw .logDisagrees("the record at offset \(recordOffset) ends at version \(header.lastVersion), position \(header.position), not version \(version), position \(position)")
        }
    }
}
