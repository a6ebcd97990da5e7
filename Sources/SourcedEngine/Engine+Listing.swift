import NIOCore
import SourcedCore
import SourcedStorage

extension Engine {
    /// A page of the ids of `model`'s aggregates, after `after`, at most `limit`: what
    /// ``DataDirectory/aggregateIDs(of:after:limit:)`` guarantees. The directory is read on the
    /// I/O threads; the future completes on `loop`.
    public func aggregateIDs(of model: String, after: AggregateID?, limit: Int, on loop: any EventLoop) -> EventLoopFuture<DataDirectory.IDPage> {
        let directory = store.directory
        return pool.runIfActive(eventLoop: loop) {
            do {
                return try directory.aggregateIDs(of: model, after: after, limit: limit)
            } catch let error as StorageError {
                throw EngineError(error)
            }
        }
    }
}
