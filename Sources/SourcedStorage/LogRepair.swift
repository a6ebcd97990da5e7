/// How an aggregate log is completed from the global log, its second copy: the repaired log's
/// bytes and what was wrong with it (`docs/storage-format.md`, "Repair from the global log").
///
/// The rules, applied to an ``AggregateLogSurvey`` of the log:
/// - Every record that verifies is kept, byte for byte.
/// - A span of damage between two records held the versions the later record skips. They are
///   restored from the aggregate's chains that the global log holds at positions between the two
///   records' positions, and must be exactly those versions.
/// - After the last record, the log must reach the newest chain of its aggregate in the global
///   log: the chains after the last record's position are appended; damage at the tail is
///   replaced by them.
/// - Versions that a damaged span held and the global log does not hold are **corrupt**: no
///   intact copy holds them, and nothing is changed. (Every aggregate record is written after its
///   chain is durable in the global log, so damage the global log does not cover means that data
///   was lost, not that a write was interrupted.) Only a damaged tail of zeros, which holds
///   nothing, is cut off without a chain to replace it.
/// - A ``AggregateLogSurvey/conflict``, or chains of the global log that do not continue the
///   log's versions where they should, are corrupt as well: two copies that verify disagree.
///
/// The restored records are the chains' aggregate records, so a repaired log is byte for byte
/// the log that was written (the records carry the same positions, versions, times and events).
public struct LogRepair: Sendable {
    /// One thing wrong with the log, and what the repair does about it.
    public struct Fix: Sendable, CustomStringConvertible {
        /// Where in the log it is.
        public var offset: Int
        /// What is wrong, e.g. "70 bytes at offset 0 do not verify (checksum mismatch)".
        public var problem: String
        /// What the repair does, e.g. "replacing them with versions 1–1 from the global log".
        public var remedy: String
        /// The versions restored from the global log, if any.
        public var versions: ClosedRange<UInt64>?

        public var description: String { "\(problem): \(remedy)" }
    }

    /// What a log needs.
    public enum Outcome: Sendable {
        /// Nothing: every byte verifies and the log reaches the global log's newest chain of its
        /// aggregate.
        case intact
        case repair(LogRepair)
        /// Damage no intact copy covers, or two copies that disagree: the log must stay as it is.
        case corrupt(offset: Int, reason: String)
    }

    /// The repaired log.
    public var bytes: [UInt8]
    /// How many bytes at the start of the log stay as they are; the rest of the file is replaced.
    public var unchangedLength: Int
    /// Whether every record of the file is kept in place: the repair cuts the file at
    /// ``unchangedLength`` and appends, instead of rewriting it.
    public var changesOnlyTail: Bool
    /// What was wrong, in log order.
    public var fixes: [Fix]
    /// How many chains were restored from the global log.
    public var restoredChains: Int
    /// Whether bytes that the repair replaces hold anything the repaired log does not (anything
    /// but zeros or the very bytes restored at the same offsets): they are kept aside.
    public var dropsData: Bool

    /// What `log`, the bytes of an aggregate's log (empty if it has none), needs, given the
    /// position of its aggregate's newest chain in the global log (``GlobalLogCopy``) and a way
    /// to read the aggregate's chains in a range of positions, which is called at most once.
    public static func plan(
        _ log: [UInt8],
        newest: UInt64?,
        chains: (ClosedRange<UInt64>) throws -> [CommittedChain]
    ) rethrows -> Outcome {
        let survey = log.withUnsafeBytes { AggregateLogSurvey($0) }
        if let conflict = survey.conflict {
            return .corrupt(offset: conflict.offset, reason: conflict.reason)
        }
        let records = survey.records
        let lastPosition = records.last?.header.position ?? 0
        let isBehind = newest.map { $0 > lastPosition } ?? false
        guard !survey.damage.isEmpty || isBehind else { return .intact }

        // One read of the global log covers every span and the tail.
        var wanted: ClosedRange<UInt64>?
        func want(_ lower: UInt64, _ upper: UInt64) {
            guard lower <= upper else { return }
            wanted = wanted.map { min($0.lowerBound, lower)...max($0.upperBound, upper) } ?? lower...upper
        }
        for damage in survey.damage where damage.recordsBefore < records.count {
            let before = damage.recordsBefore > 0 ? records[damage.recordsBefore - 1].header.position : 0
            let after = records[damage.recordsBefore].header.position
            if after > 0 { want(before + 1, after - 1) }
        }
        if let newest, isBehind { want(lastPosition + 1, newest) }
        let fetched = try wanted.map(chains) ?? []

        var bytes: [UInt8] = []
        bytes.reserveCapacity(log.count)
        var fixes: [Fix] = []
        var restored = 0
        var version: UInt64 = 0
        var position: UInt64 = 0
        var tailDamage: AggregateLogSurvey.Damage?
        var damages = survey.damage[...]
        for index in 0...records.count {
            if let damage = damages.first, damage.recordsBefore == index {
                damages.removeFirst()
                guard index < records.count else {
                    tailDamage = damage
                    break
                }
                let next = records[index].header
                let found = fetched.filter { $0.position > position && $0.position < next.position }
                guard Self.lastVersion(of: found, after: version) == next.firstVersion - 1 else {
                    let gap = next.firstVersion - 1 > version
                        ? "no intact copy holds versions \(version + 1)–\(next.firstVersion - 1): the global log does not hold them"
                        : "the records around it hold consecutive versions, but the global log holds chains of this aggregate"
                    return .corrupt(
                        offset: damage.bytes.lowerBound,
                        reason: "\(damage.reason); \(gap) between positions \(position) and \(next.position)"
                    )
                }
                found.forEach { $0.appendAggregateRecord(to: &bytes) }
                restored += found.count
                fixes.append(Fix(
                    offset: damage.bytes.lowerBound,
                    problem: "\(damage.bytes.count) bytes at offset \(damage.bytes.lowerBound) do not verify (\(damage.reason))",
                    remedy: found.isEmpty
                        ? "dropping them: the records around them hold consecutive versions"
                        : "replacing them with versions \(version + 1)–\(next.firstVersion - 1) from the global log",
                    versions: found.isEmpty ? nil : (version + 1)...(next.firstVersion - 1)
                ))
            }
            guard index < records.count else { break }
            let record = records[index]
            bytes.append(contentsOf: log[record.offset..<record.end])
            version = record.header.lastVersion
            position = record.header.position
        }

        let end = records.last?.end ?? 0
        let tail = fetched.filter { $0.position > position }
        if let first = tail.first {
            guard let last = Self.lastVersion(of: tail, after: version) else {
                return .corrupt(
                    offset: tailDamage?.bytes.lowerBound ?? end,
                    reason: "the log ends at version \(version) but global position \(first.position) continues at version \(first.firstVersion)"
                )
            }
            tail.forEach { $0.appendAggregateRecord(to: &bytes) }
            restored += tail.count
            if let tailDamage {
                fixes.append(Fix(
                    offset: tailDamage.bytes.lowerBound,
                    problem: "\(tailDamage.bytes.count) bytes at offset \(tailDamage.bytes.lowerBound) do not verify (\(tailDamage.reason))",
                    remedy: "replacing them with versions \(version + 1)–\(last) from the global log",
                    versions: (version + 1)...last
                ))
            } else {
                fixes.append(Fix(
                    offset: end,
                    problem: version == 0
                        ? "holds no record, but the global log holds versions 1–\(last)"
                        : "ends at version \(version) (offset \(end)), but the global log holds versions \(version + 1)–\(last)",
                    remedy: "appending them from the global log",
                    versions: (version + 1)...last
                ))
            }
        } else if let tailDamage {
            guard log[tailDamage.bytes].allSatisfy({ $0 == 0 }) else {
                return .corrupt(
                    offset: tailDamage.bytes.lowerBound,
                    reason: "\(tailDamage.reason); no intact copy holds what follows version \(version): the global log holds no chain of this aggregate after position \(position)"
                )
            }
            fixes.append(Fix(
                offset: tailDamage.bytes.lowerBound,
                problem: "\(tailDamage.bytes.count) zero bytes at offset \(tailDamage.bytes.lowerBound) end the log",
                remedy: "cutting them off: they hold no record",
                versions: nil
            ))
        }
        guard !fixes.isEmpty else { return .intact }
        let unchanged = survey.damage.first?.bytes.lowerBound ?? log.count
        return .repair(LogRepair(
            bytes: bytes,
            unchangedLength: unchanged,
            changesOnlyTail: survey.damage.allSatisfy { $0.recordsBefore == records.count },
            fixes: fixes,
            restoredChains: restored,
            dropsData: (unchanged..<log.count).contains { log[$0] != 0 && ($0 >= bytes.count || bytes[$0] != log[$0]) }
        ))
    }

    /// The last version of `chains` if they continue `version` without a gap (`version` itself
    /// for none), else `nil`.
    private static func lastVersion(of chains: [CommittedChain], after version: UInt64) -> UInt64? {
        var last = version
        for chain in chains {
            guard chain.firstVersion == last + 1 else { return nil }
            last = chain.lastVersion
        }
        return last
    }
}
