import SourcedCore
import SourcedStorage
import Testing

/// `LogRepair.plan`: what an aggregate log needs, given the global log's copy of its chains.
@Suite struct LogRepairTests {
    let chains = makeChains(3)

    func plan(_ log: [UInt8], _ copy: ChainsInMemory) -> LogRepair.Outcome {
        let key = chains[0].key
        return LogRepair.plan(log, newest: copy.newestPosition(of: key)) { copy.chains(of: key, in: $0) }
    }

    func repair(_ outcome: LogRepair.Outcome, sourceLocation: SourceLocation = #_sourceLocation) throws -> LogRepair {
        guard case .repair(let repair) = outcome else {
            Issue.record("expected a repair, got \(outcome)", sourceLocation: sourceLocation)
            throw Unexpected()
        }
        return repair
    }

    struct Unexpected: Error {}

    @Test func aCompleteLogIsIntact() {
        guard case .intact = plan(aggregateLog(of: chains).bytes, ChainsInMemory(chains)) else {
            Issue.record("a complete log needs nothing")
            return
        }
    }

    /// Every single-bit flip anywhere in the log is repaired to the original bytes; only the
    /// last record's is repaired in place.
    @Test func everyFlippedBitIsRepairedToTheOriginalBytes() throws {
        let log = aggregateLog(of: chains)
        for bit in 0..<(log.bytes.count * 8) {
            var damaged = log.bytes
            damaged[bit / 8] ^= 1 << (bit % 8)
            let repaired = try repair(plan(damaged, ChainsInMemory(chains)))
            #expect(repaired.bytes == log.bytes, "bit \(bit)")
            #expect(repaired.restoredChains == 1, "bit \(bit)")
            let record = log.starts.lastIndex { $0 <= bit / 8 }!
            #expect(repaired.unchangedLength == log.starts[record], "bit \(bit)")
            #expect(repaired.changesOnlyTail == (record == 2), "bit \(bit)")
            #expect(repaired.dropsData == (damaged[bit / 8] != 0), "bit \(bit): a byte that became zero held nothing")
        }
    }

    /// A write cut anywhere in the last record (what a crash leaves) is completed in place, and
    /// what was cut holds nothing the repaired log does not.
    @Test func aTornLastRecordIsCompleted() throws {
        let log = aggregateLog(of: chains)
        for cut in (log.starts[2] + 1)..<log.bytes.count {
            let repaired = try repair(plan(Array(log.bytes[..<cut]), ChainsInMemory(chains)))
            #expect(repaired.bytes == log.bytes && repaired.changesOnlyTail && !repaired.dropsData, "cut at \(cut)")
        }
    }

    @Test func aLogBehindTheGlobalLogOrMissingIsCompleted() throws {
        let log = aggregateLog(of: chains)
        let behind = try repair(plan(Array(log.bytes[..<log.starts[1]]), ChainsInMemory(chains)))
        #expect(behind.bytes == log.bytes && behind.unchangedLength == log.starts[1] && behind.restoredChains == 2)
        #expect(behind.fixes.map(\.description) == [
            "ends at version 1 (offset \(log.starts[1])), but the global log holds versions 2–3: appending them from the global log",
        ])
        let missing = try repair(plan([], ChainsInMemory(chains)))
        #expect(missing.bytes == log.bytes && missing.restoredChains == 3 && !missing.dropsData)
        #expect(missing.fixes.map(\.problem) == ["holds no record, but the global log holds versions 1–3"])
    }

    /// A zero-filled tail holds nothing: it is cut off even if the global log holds nothing more.
    @Test func aZeroFilledTailIsCutOff() throws {
        let log = aggregateLog(of: chains)
        let repaired = try repair(plan(log.bytes + [UInt8](repeating: 0, count: 100), ChainsInMemory(chains)))
        #expect(repaired.bytes == log.bytes && repaired.restoredChains == 0 && !repaired.dropsData)
        #expect(repaired.fixes.map(\.description) == ["100 zero bytes at offset \(log.bytes.count) end the log: cutting them off: they hold no record"])
    }

    /// Damage whose versions the global log does not hold is corrupt, at its offset: in the
    /// middle, and at the end (the last record damaged, its global record gone too).
    @Test(arguments: [1, 2])
    func damageTheGlobalLogDoesNotCoverIsCorrupt(record: Int) throws {
        let log = aggregateLog(of: chains)
        var damaged = log.bytes
        damaged[log.starts[record] + 40] ^= 1
        let copy = ChainsInMemory(chains.filter { $0.firstVersion != UInt64(record + 1) })
        guard case .corrupt(let offset, let reason) = plan(damaged, copy) else {
            Issue.record("damage no copy covers must be corrupt")
            return
        }
        #expect(offset == log.starts[record])
        #expect(reason.hasPrefix("checksum mismatch; no intact copy holds"), "\(reason)")
    }

    @Test func twoCopiesThatDisagreeAreCorrupt() {
        let log = aggregateLog(of: chains)
        // A verified record out of sequence, where no damage explains the gap.
        let gap = aggregateLog(of: [chains[0], chains[2]]).bytes
        guard case .corrupt(let offset, let reason) = plan(gap, ChainsInMemory(chains)) else {
            Issue.record("a gap between verified records is corrupt")
            return
        }
        #expect(offset == log.starts[1] && reason == "version 3 follows version 1")
        // The global log continues the aggregate at a version the log does not end at.
        var other = chains[2]
        other.firstVersion = 5
        guard case .corrupt(_, let continuation) = plan(Array(log.bytes[..<log.starts[2]]), ChainsInMemory(Array(chains[..<2]) + [other])) else {
            Issue.record("a global log that does not continue the log is corrupt")
            return
        }
        #expect(continuation == "the log ends at version 2 but global position 30 continues at version 5")
    }

    /// A newest position shared with another aggregate (later than this one's newest) costs one
    /// read and finds the log complete.
    @Test func aLaterNewestPositionWithNothingMoreIsIntact() {
        guard case .intact = plan(aggregateLog(of: chains).bytes, ChainsInMemory(chains, newest: 99)) else {
            Issue.record("nothing to restore")
            return
        }
    }
}
