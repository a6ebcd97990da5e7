import NIOCore
import SourcedCore
import SourcedStorage

extension Engine {
    /// A page of the ids of `model`'s aggregates, after `after`, at most `limit`, in the byte
    /// order of their UTF-8: what ``DataDirectory/aggregateIDs(of:after:limit:)`` guarantees. Read
    /// off the loop; the future completes on `loop`.
    public func aggregateIDs(of model: String, after: AggregateID?, limit: Int, on loop: any EventLoop) -> EventLoopFuture<DataDirectory.IDPage> {
        store.aggregateIDs(of: model, after: after, limit: limit, on: loop)
    }
}
