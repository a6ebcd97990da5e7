import SourcedCore
import SourcedJSON

/// A model written in Lua: its description, read once when the file is loaded, and its source,
/// run in one ``LuaMachine`` per thread that calls it.
///
/// The engine calls `decide` on a shard's event loop and `evolve` there and on the I/O threads
/// that replay logs; each thread gets its own Lua state (``LuaMachines``), created on first use
/// and never shared, so no call takes a lock or leaves its thread. A machine that faulted is
/// replaced by a fresh one on the next call.
public final class LuaProgram: ModelProgram {
    public let name: String
    public let commands: [CommandDescription]
    public let stateVersion: Int
    /// Where the model came from, for messages.
    public let path: String
    let source: String
    let limits: LuaLimits

    /// Runs `source` (the file at `path`) once to read and check its description.
    ///
    /// - Throws: ``LuaModelError/invalid(path:reason:)`` naming what is wrong.
    public init(source: String, path: String, limits: LuaLimits = .default) throws(LuaModelError) {
        self.path = path
        self.source = source
        self.limits = limits
        let machine: LuaMachine
        let description: LuaModelDescription
        do throws(ModelFault) {
            machine = try LuaMachine(source: source, chunk: "@\(path)", name: path, limits: limits)
            description = try LuaModelDescription(machine)
        } catch {
            throw .invalid(path: path, reason: error.reason)
        }
        name = description.name
        commands = description.commands
        stateVersion = description.stateVersion
        _ = machine
    }

    public func decide(_ command: TaggedObject, state: JSONValue?) throws(ModelError) -> [TaggedObject] {
        let machine: LuaMachine
        do throws(ModelFault) {
            machine = try LuaMachines.current.machine(for: self)
        } catch {
            throw .fault(error)
        }
        defer { LuaMachines.current.discardIfSpoiled(machine, of: self) }
        return try machine.decide(command, state: state)
    }

    public func evolve(_ state: JSONValue?, with event: TaggedObject) throws(ModelFault) -> JSONValue {
        let machine = try LuaMachines.current.machine(for: self)
        defer { LuaMachines.current.discardIfSpoiled(machine, of: self) }
        return try machine.evolve(state, with: event)
    }

    /// A new machine running this program, for the calling thread only.
    func makeMachine() throws(ModelFault) -> LuaMachine {
        do throws(ModelFault) {
            return try LuaMachine(source: source, chunk: "@\(path)", name: name, limits: limits)
        } catch {
            throw ModelFault("model \"\(name)\": loading: \(error.reason)")
        }
    }
}
