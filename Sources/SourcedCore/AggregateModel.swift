/// The rules of one kind of aggregate: what it remembers, what it may be asked, and what it records.
///
/// A model is pure. ``decide(_:state:)`` turns a command and the current state into events (or a
/// rejection), and ``evolve(_:with:)`` folds an event into the state. The engine calls `decide` only
/// inside the aggregate's own actor, so a model never sees two commands for one aggregate at once,
/// and it calls `evolve` both for new events and when it rebuilds an aggregate from its log, so the
/// state in memory is always exactly the fold of the events on disk.
///
/// `Command` and `Event` are usually enums whose cases have labelled associated values; on the wire
/// and on disk a case is a JSON object whose `"type"` names the case and whose other keys are its
/// labels (see ``TaggedCoding``). Adding a model is one file holding the conforming type plus one
/// line in ``ModelCatalog/builtIn``.
public protocol AggregateModel: Sendable {
    /// What the aggregate remembers between commands. Keep it to what the invariants need.
    associatedtype State: Codable & Sendable & Equatable
    /// What a client may ask of the aggregate.
    associatedtype Command: Codable & Sendable
    /// What the aggregate records when a command is accepted.
    associatedtype Event: Codable & Sendable

    /// The name clients use for this model in requests, e.g. `"counter"`.
    ///
    /// Lowercase ASCII letters, digits, `-` and `_`, at most 64 bytes: it also names a directory.
    static var name: String { get }

    /// The commands this model accepts, for clients that discover them (the `models` request).
    static var commands: [CommandDescription] { get }

    /// The shape of `State` as snapshots store it: change it (any other value) whenever `State`
    /// changes how it encodes, so that snapshots of the old shape are ignored and rebuilt from
    /// the log instead of being decoded wrongly. 1 unless the model says otherwise.
    static var stateVersion: Int { get }

    /// Decides what `command` does to an aggregate in `state` (`nil` if it was never created).
    ///
    /// - Returns: the events to record, in order. Returning no events accepts the command without
    ///   recording anything.
    /// - Throws: ``Rejection`` when the command would break an invariant; nothing is recorded then.
    static func decide(_ command: Command, state: State?) throws(Rejection) -> [Event]

    /// Returns the state after `event`, starting from `state` (`nil` before the first event).
    static func evolve(_ state: State?, with event: Event) -> State

    /// What the engine calls to decide a chain: `program` is the catalog's program for the
    /// aggregate's model name (`nil` for a Swift model). A Swift model keeps the default, which
    /// is ``decide(chain:state:)`` and never faults; ``DynamicModel`` runs the program.
    static func decide(chain commands: [Command], state: State?, program: (any ModelProgram)?) throws(ModelError) -> (events: [Event], state: State?)

    /// What the engine calls to fold an event while loading; as ``decide(chain:state:program:)``,
    /// a Swift model keeps the default, ``evolve(_:with:)``.
    static func evolve(_ state: State?, with event: Event, program: (any ModelProgram)?) throws(ModelFault) -> State
}

/// A model's refusal of a command, with a reason a user can act on, e.g. `"insufficient funds"`.
public struct Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// The reason, as the model put it; clients see it verbatim.
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}

/// A command a model accepts, described for clients.
public struct CommandDescription: Codable, Hashable, Sendable {
    /// The command's `"type"` on the wire.
    public var type: String
    /// Its fields, by name, with their JSON types (`"string"`, `"integer"`, `"boolean"`, `"number"`).
    public var fields: [String: String]
    /// One line for humans.
    public var summary: String

    public init(_ type: String, fields: [String: String] = [:], summary: String) {
        self.type = type
        self.fields = fields
        self.summary = summary
    }
}

extension AggregateModel {
    public static var stateVersion: Int { 1 }

    @inlinable
    public static func decide(
        chain commands: [Command],
        state: State?,
        program: (any ModelProgram)?
    ) throws(ModelError) -> (events: [Event], state: State?) {
        do {
            return try decide(chain: commands, state: state)
        } catch {
            throw .rejected(error)
        }
    }

    @inlinable
    public static func evolve(_ state: State?, with event: Event, program: (any ModelProgram)?) throws(ModelFault) -> State {
        evolve(state, with: event)
    }

    /// Runs a chain of commands, each on the state the previous one produced.
    ///
    /// - Returns: all events of the chain in order and the state after the last one.
    /// - Throws: the first ``Rejection``; the chain then has no effect at all.
    public static func decide(
        chain commands: [Command],
        state: State?
    ) throws(Rejection) -> (events: [Event], state: State?) {
        var state = state
        var events: [Event] = []
        for command in commands {
            for event in try decide(command, state: state) {
                state = evolve(state, with: event)
                events.append(event)
            }
        }
        return (events, state)
    }
}
