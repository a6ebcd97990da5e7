import SourcedStorage
import Testing

/// The snapshot file format: what is written reads back, and any damage is refused.
@Suite struct SnapshotFileTests {
    let snapshot = SnapshotFile(
        model: "counter", stateVersion: 3, version: 1_000_000, logLength: 61_000_000,
        recordOffset: 60_999_940, position: 1_000_007, state: Array(#"{"count":999999}"#.utf8)
    )

    @Test func readsBackWhatItWrites() throws {
        let bytes = snapshot.encoded()
        #expect(bytes.count == 56 + "counter".utf8.count + snapshot.state.count + 4)
        #expect(try SnapshotFile(decoding: bytes) == snapshot)
    }

    @Test func refusesEveryFlippedBit() {
        let bytes = snapshot.encoded()
        for index in bytes.indices {
            for bit in 0..<8 {
                var damaged = bytes
                damaged[index] ^= 1 << bit
                #expect(throws: SnapshotRejection.self) { try SnapshotFile(decoding: damaged) }
            }
        }
    }

    @Test func refusesATruncatedOrExtendedFile() {
        let bytes = snapshot.encoded()
        for length in [0, 8, 55, 60, bytes.count - 1] {
            #expect(throws: SnapshotRejection.self) { try SnapshotFile(decoding: Array(bytes.prefix(length))) }
        }
        #expect(throws: SnapshotRejection.self) { try SnapshotFile(decoding: bytes + [0]) }
    }
}
