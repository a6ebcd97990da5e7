import SourcedCore

/// What to do with each kind of ``AggregateRequest``; see ``AggregateRequest/accept(_:)``.
public protocol AggregateRequestVisitor {
    associatedtype Result

    func execute<Model: AggregateModel>(_ request: ExecuteRequest<Model>) -> Result
    func get<Model: AggregateModel>(_ request: GetRequest<Model>) -> Result
    func events<Model: AggregateModel>(_ request: EventsRequest<Model>) -> Result
}
