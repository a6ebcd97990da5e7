import Glibc
import SourcedCore

/// The Lua machines of the calling thread, one per program: what keeps a Lua state on the one
/// thread that created it.
///
/// Reached through a `pthread` key: a thread's machines are closed when the thread ends. An entry
/// holds its program weakly and is used only for that very program, so a program released (a
/// reload replaced it) is never confused with a new one at its address; its machine is closed
/// when the thread next makes a machine.
final class LuaMachines {
    private struct Entry {
        weak var program: LuaProgram?
        let machine: LuaMachine
    }

    private var machines: [ObjectIdentifier: Entry] = [:]

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let created = pthread_key_create(&key) { pointer in
            Unmanaged<LuaMachines>.fromOpaque(pointer!).release()
        }
        precondition(created == 0, "pthread_key_create failed: \(created)")
        return key
    }()

    /// The calling thread's machines.
    static var current: LuaMachines {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<LuaMachines>.fromOpaque(pointer).takeUnretainedValue()
        }
        let machines = LuaMachines()
        pthread_setspecific(key, Unmanaged.passRetained(machines).toOpaque())
        return machines
    }

    /// This thread's machine for `program`, made on first use.
    func machine(for program: LuaProgram) throws(ModelFault) -> LuaMachine {
        let id = ObjectIdentifier(program)
        if let entry = machines[id], entry.program === program { return entry.machine }
        machines = machines.filter { $0.value.program != nil }
        let machine = try program.makeMachine()
        machines[id] = Entry(program: program, machine: machine)
        return machine
    }

    /// Drops `machine` if a call spoiled it: the next call of `program` starts a fresh one.
    func discardIfSpoiled(_ machine: LuaMachine, of program: LuaProgram) {
        guard machine.isSpoiled else { return }
        machines[ObjectIdentifier(program)] = nil
    }
}
