import Glibc
import SourcedCore

/// The Lua machines of the calling thread, one per program: what keeps a Lua state on the one
/// thread that created it.
///
/// Reached through a `pthread` key: a thread's machines are closed when the thread ends. Each
/// entry holds its program, so a program's identity is never reused while its machine lives.
final class LuaMachines {
    private var machines: [ObjectIdentifier: (program: LuaProgram, machine: LuaMachine)] = [:]

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
        if let entry = machines[ObjectIdentifier(program)] { return entry.machine }
        let machine = try program.makeMachine()
        machines[ObjectIdentifier(program)] = (program, machine)
        return machine
    }

    /// Drops `machine` if a call spoiled it: the next call of `program` starts a fresh one.
    func discardIfSpoiled(_ machine: LuaMachine, of program: LuaProgram) {
        guard machine.isSpoiled else { return }
        machines[ObjectIdentifier(program)] = nil
    }
}
