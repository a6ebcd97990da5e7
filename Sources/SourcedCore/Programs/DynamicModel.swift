import SourcedJSON

/// The one Swift model type of every model known only at run time (``ModelProgram``): commands
/// and events are ``TaggedObject``s, the state any JSON value, and the behaviour comes from the
/// program the catalog holds under the aggregate's model name.
///
/// The engine reaches the program through ``AggregateModel/decide(chain:state:program:)`` and
/// ``AggregateModel/evolve(_:with:program:)``; the program-less entry points exist only to
/// conform and are never called by the engine (they refuse with a fault, or start from `null`).
public enum DynamicModel: AggregateModel {
    public typealias State = JSONValue
    public typealias Command = TaggedObject
    public typealias Event = TaggedObject

    /// Not a model name: a dynamic model's name is its program's, ``ModelProgram/name``.
    public static let name = "dynamic"
    public static let commands: [CommandDescription] = []

    public static func decide(_ command: Command, state: State?) throws(Rejection) -> [Event] {
        throw Rejection("model \(name) has no program")
    }

    public static func evolve(_ state: State?, with event: Event) -> State {
        state ?? .null
    }

    public static func decide(
        chain commands: [Command],
        state: State?,
        program: (any ModelProgram)?
    ) throws(ModelError) -> (events: [Event], state: State?) {
        guard let program else { throw .fault(ModelFault("no program for this model")) }
        var state = state
        var events: [Event] = []
        for command in commands {
            for event in try program.decide(command, state: state) {
                do {
                    state = try program.evolve(state, with: event)
                } catch {
                    throw .fault(error)
                }
                events.append(event)
            }
        }
        return (events, state)
    }

    public static func evolve(_ state: State?, with event: Event, program: (any ModelProgram)?) throws(ModelFault) -> State {
        guard let program else { throw ModelFault("no program for this model") }
        return try program.evolve(state, with: event)
    }
}
