import SourcedJSON

/// The behaviour of a model known only at run time, such as a Lua script: what
/// ``DynamicModel`` runs for the aggregates of one model name.
///
/// A program is shared by every thread of the engine; it must keep whatever is not thread-safe
/// (an interpreter's state) per thread. Calls may fail with a ``ModelFault`` where a Swift model
/// would trap: the engine then records nothing and answers the request with the fault.
public protocol ModelProgram: AnyObject, Sendable {
    /// The model's name, as ``AggregateModel/name`` rules it.
    var name: String { get }
    /// The commands it accepts, for the `models` request and for checking commands as parsed.
    var commands: [CommandDescription] { get }
    /// As ``AggregateModel/stateVersion``.
    var stateVersion: Int { get }

    /// Decides one command, as ``AggregateModel/decide(_:state:)``.
    func decide(_ command: TaggedObject, state: JSONValue?) throws(ModelError) -> [TaggedObject]

    /// Folds one event into the state, as ``AggregateModel/evolve(_:with:)``, or fails.
    func evolve(_ state: JSONValue?, with event: TaggedObject) throws(ModelFault) -> JSONValue
}
