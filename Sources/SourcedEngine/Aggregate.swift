import SourcedCore
import SourcedStorage

/// One live aggregate of `Model`: its durable state, its newest decided state, and the reads
/// waiting for the two to meet.
///
/// Owned by its shard's event loop, like ``LiveAggregate``.
final class Aggregate<Model: AggregateModel>: LiveAggregate {
    /// A read that must see every chain decided before it: answered once `version` is durable.
    struct PendingRead {
        var version: UInt64
        var answer: (Result<Snapshot<Model>, EngineError>) -> Void
    }

    /// The state and version on disk.
    var durable = Snapshot<Model>(version: 0, state: nil)
    /// The state and version after every decided chain, durable or not.
    var head = Snapshot<Model>(version: 0, state: nil)
    var reads: [PendingRead] = []
    /// The program it runs for its whole life in memory, if `Model` is ``DynamicModel``: the one
    /// its shard served when it was created. A reload that changes it retires the aggregate
    /// (``LiveAggregate/retired``) instead of switching programs under a folded state.
    let program: (any ModelProgram)?
    /// The state version its snapshots are written with: `Model`'s, or its program's.
    let stateVersion: Int

    init(key: AggregateKey, program: (any ModelProgram)?) {
        self.program = program
        self.stateVersion = program?.stateVersion ?? Model.stateVersion
        super.init(key: key)
    }

    /// Answers, in order, the reads whose chains are now all durable.
    func answerDurableReads() {
        guard let first = reads.first, first.version <= durable.version else { return }
        let ready = reads.prefix { $0.version <= durable.version }
        reads.removeFirst(ready.count)
        for read in ready {
            read.answer(.success(durable))
        }
    }

    override func durableSnapshot() -> (version: UInt64, make: @Sendable () throws -> SnapshotFile)? {
        guard let state = durable.state, durable.version > 0 else { return nil }
        let file = SnapshotFile(
            model: key.model, stateVersion: stateVersion, version: durable.version, logLength: durableLength,
            recordOffset: durableRecordOffset, position: durablePosition, state: [],
            commands: commands.encoded(through: durable.version)
        )
        return (durable.version, {
            var file = file
            file.state = try StateFold<Model>.encode(state)
            return file
        })
    }

    override var headVersion: UInt64 { head.version }

    override func forgetUndurable() {
        super.forgetUndurable()
        head = durable
        commands.forget(after: durable.version)
    }

    /// Removes and returns the reads waiting for chains not yet durable, in arrival order.
    func takeWaitingReads() -> [PendingRead] {
        defer { reads = [] }
        return reads
    }

    override func failWaitingReads(_ error: EngineError) {
        let failed = reads
        reads = []
        for read in failed {
            read.answer(.failure(error))
        }
    }
}
