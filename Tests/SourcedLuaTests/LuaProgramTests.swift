import SourcedCore
import SourcedJSON
import SourcedLua
import Testing

/// Loading Lua models, the JSON ↔ Lua value rules and the sandbox, one program at a time.
@Suite struct LuaProgramTests {
    /// A model whose `decide` runs `body`, and whose `evolve` keeps the event as the state.
    static func echo(_ body: String) throws -> LuaProgram {
        try LuaTestModels.program(named: "echo", decide: body)
    }

    static func decide(_ program: LuaProgram, _ command: String = #"{"type":"go"}"#, state: JSONValue? = nil) throws(ModelError) -> [String] {
        try program.decide(LuaTestModels.command(command), state: state).map { String(decoding: try! JSONStreamEncoder().encode($0), as: UTF8.self) }
    }

    @Test func shippedModelsDescribeThemselves() {
        #expect(LuaTestModels.shipped.map(\.name) == ["lua-account", "cart", "lua-counter"])
        let account = LuaTestModels.program("lua-account")
        #expect(account.commands == Account.commands)
        #expect(LuaTestModels.program("lua-counter").commands == Counter.commands)
        #expect(account.stateVersion == 1)
    }

    @Test func valuesCrossAsTheirJSON() throws {
        let program = try Self.echo("""
            return { { type = "seen", command = command, int = 1 + 2, float = 3 / 2, whole = 2.0, text = "é",
                       empty = {}, list = array(), null = null, state = state } }
            """)
        let command = #"{"type":"go","big":9223372036854775807,"neg":-3,"pi":3.25,"exp":1e2,"flag":true,"no":null,"list":[1,[2],{}],"object":{"b":1,"a":2}}"#
        let events = try Self.decide(program, command, state: .array([]))
        #expect(events == [
            #"{"type":"seen","command":{"type":"go","big":9223372036854775807,"exp":100,"flag":true,"list":[1,[2],{}],"neg":-3,"no":null,"object":{"a":2,"b":1},"pi":3.25},"empty":{},"float":1.5,"int":3,"list":[],"null":null,"state":[],"text":"é","whole":2}"#,
        ])
    }

    @Test func integersStayIntegersThroughArithmetic() throws {
        let program = try Self.echo(#"return { { type = "seen", n = command.n + 1, isint = math.type(command.n) } }"#)
        #expect(try Self.decide(program, #"{"type":"go","n":41}"#) == [#"{"type":"seen","isint":"integer","n":42}"#])
    }

    @Test func rejectionsCarryTheirReason() throws {
        let program = try Self.echo(#"reject("insufficient funds: " .. 3)"#)
        #expect(throws: ModelError.rejected(Rejection("insufficient funds: 3"))) { try Self.decide(program) }
    }

    @Test func noEventsIsAnEmptyTable() throws {
        #expect(try Self.decide(try Self.echo("return {}")).isEmpty)
    }

    /// The sandbox has none of these: each use is a fault naming it.
    @Test(arguments: [
        ("os.time()", "no global 'os'"), ("io.write('x')", "no global 'io'"), ("require('x')", "no global 'require'"),
        ("debug.traceback()", "no global 'debug'"), ("package.path = ''", "no global 'package'"),
        ("load('return 1')", "no global 'load'"), ("math.random()", "attempt to call a nil value (field 'random')"),
        ("string.dump(print)", "no global 'print'"), ("pcall(error)", "no global 'pcall'"), ("x = 1", "globals are read-only"),
        ("collectgarbage()", "no global 'collectgarbage'"), ("dofile('/etc/passwd')", "no global 'dofile'"),
    ])
    func sandboxRefuses(_ code: String, _ message: String) throws {
        let program = try Self.echo(code + "; return {}")
        do {
            _ = try Self.decide(program)
            Issue.record("\(code) ran")
        } catch {
            guard case .fault(let fault) = error else { throw error }
            #expect(fault.reason.contains(message), "\(fault.reason)")
            #expect(fault.reason.hasPrefix("model \"echo\": decide: "))
        }
    }

    /// Hostile or broken `decide`s: each is a fault, and the next call runs on a fresh state.
    @Test(arguments: [
        ("while true do end", "instruction budget of 1000000 exhausted"),
        ("local t = {} while true do t[#t + 1] = string.rep('x', 1000) .. #t end", "memory limit of 4194304 bytes exceeded"),
        ("error('boom')", "boom"),
        ("error({})", "error object is table"),
        ("return 42", "must return a list of events, not number"),
        ("return { 'created' }", "event 1 must be a table with a non-empty string \"type\""),
        ("return { { kind = 'x' } }", "event 1 must be a table"),
        ("return { { type = 'x', f = print } }", "no global 'print'"),
        ("return { { type = 'x', f = string.len } }", "a function has no JSON form"),
        ("return { { type = 'x', n = 0/0 } }", "is not a JSON number"),
        ("local t = {} t.self = t return { { type = 'x', t = t } }", "nests more than 64 levels"),
        ("return { { type = 'x', [1] = 2 } }", "mixes string keys and integer keys"),
        ("return { { type = 'x', t = { [1] = 1, [3] = 3 } } }", "1..n"),
        ("return { { type = '\\255' } }", "not valid UTF-8"),
    ])
    func faultsAreReported(_ code: String, _ message: String) throws {
        let program = try Self.echo(code)
        for _ in 0..<2 {
            do {
                _ = try Self.decide(program)
                Issue.record("\(code) returned")
            } catch {
                guard case .fault(let fault) = error else { throw error }
                #expect(fault.reason.contains(message), "\(fault.reason)")
            }
        }
        let healthy = try Self.echo("return { { type = 'ok' } }")
        #expect(try Self.decide(healthy) == [#"{"type":"ok"}"#])
    }

    @Test(arguments: [
        ("return {", "unexpected symbol"),
        ("return 1", "must return a table (the model), not number"),
        ("return { name = 'x', commands = {}, evolve = function() end }", "needs a function \"decide\""),
        ("return { commands = {}, decide = type, evolve = type }", "needs a string \"name\""),
        ("return { name = 'Bad Name', commands = {}, decide = type, evolve = type }", "invalid model name"),
        ("return { name = 'x', decide = type, evolve = type }", "needs \"commands\""),
        ("return { name = 'x', commands = { { type = 'a' } }, decide = type, evolve = type }", "command \"a\" needs a string \"summary\""),
        ("return { name = 'x', commands = { { type = 'a', summary = '', fields = { n = 'int' } } }, decide = type, evolve = type }", "must be one of"),
        ("return { name = 'x', state_version = 1.5, commands = {}, decide = type, evolve = type }", "\"state_version\" must be an integer"),
        ("while true do end", "instruction budget"),
        ("\u{1B}Lua", "attempt to load a binary chunk"),
    ])
    func invalidFilesAreRefused(_ source: String, _ message: String) {
        #expect {
            _ = try LuaTestModels.program(source: source)
        } throws: { error in
            guard case LuaModelError.invalid(let path, let reason) = error else { return false }
            return path == "test.lua" && reason.contains(message)
        }
    }
}
