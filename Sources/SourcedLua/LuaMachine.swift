import CLua
import SourcedCore
import SourcedJSON

/// One sandboxed Lua state running one model: the model file's table, its `decide` and
/// `evolve`, and the limits every call runs under.
///
/// Not thread-safe: a machine is created, used and closed on one thread (``LuaProgram`` keeps
/// one per thread). After a call that faulted the machine is ``isSpoiled``: the model's
/// globals may be half-changed or its memory full, so the owner discards it and starts afresh.
final class LuaMachine {
    /// The model's name, for fault messages.
    let name: String
    private let state: OpaquePointer
    private let limits: UnsafeMutablePointer<sourced_lua_limits>
    /// Set by a call that faulted.
    private(set) var isSpoiled = false

    /// Registry keys of the values the sandbox's prelude makes.
    private static let nullKey = "sourced.null"
    private static let arrayKey = "sourced.array"
    private static let rejectKey = "sourced.reject"
    private static let modelKey = "sourced.model"
    /// How deeply tables may nest in what crosses to or from Lua (a cycle fails at this depth).
    static let maximumDepth = 64

    /// Runs the model file `source` (named `chunk` in messages) in a new sandboxed state and keeps
    /// the table it returns.
    ///
    /// - Throws: a description of what is wrong: the file does not compile, raises an error, uses
    ///   up its limits while it runs, or returns something other than a table with `decide` and
    ///   `evolve` functions.
    init(source: String, chunk: String, name: String, limits: LuaLimits) throws(ModelFault) {
        self.name = name
        self.limits = .allocate(capacity: 1)
        self.limits.initialize(to: sourced_lua_limits(
            used: 0, memory_limit: limits.memory, instructions: 0, instruction_limit: Int64(limits.instructions), exhausted: 0
        ))
        guard let state = sourced_lua_newstate(self.limits) else {
            self.limits.deallocate()
            throw ModelFault("cannot create a Lua state within \(limits.memory) bytes")
        }
        self.state = state
        // Fully initialized: if these throw, `deinit` closes the state.
        try openSandbox()
        try run(source, chunk: chunk)
    }

    deinit {
        lua_close(state)
        limits.deallocate()
    }

    // MARK: - The sandbox

    /// The libraries a model may use, and the prelude: `null`, `array`, `reject`, and globals
    /// that refuse to be read when undefined or written at all once the model is loaded.
    private static let prelude = """
        local null = setmetatable({}, {
            __name = "null", __tostring = function() return "null" end,
            __newindex = function() error("null cannot be changed", 2) end,
        })
        local ARRAY = {__name = "array"}
        local REJECT = {__name = "rejection"}
        _G.null = null
        function _G.array(t) return setmetatable(t or {}, ARRAY) end
        function _G.reject(reason) error(setmetatable({reason = tostring(reason)}, REJECT), 0) end
        for _, name in ipairs({"dofile", "loadfile", "load", "require", "print", "collectgarbage", "pcall", "xpcall"}) do
            _G[name] = nil
        end
        math.random, math.randomseed, string.dump = nil, nil, nil
        return null, ARRAY, REJECT
        """

    /// Makes the globals of a loaded model read-only, and reading an undefined one an error.
    private static let seal = """
        setmetatable(_G, {
            __index = function(_, key) error("no global '" .. tostring(key) .. "' in the sandbox", 2) end,
            __newindex = function(_, key) error("globals are read-only: cannot set '" .. tostring(key) .. "'", 2) end,
        })
        """

    private func openSandbox() throws(ModelFault) {
        let libraries: [(String, lua_CFunction)] = [
            ("_G", luaopen_base), (LUA_STRLIBNAME, luaopen_string), (LUA_TABLIBNAME, luaopen_table),
            (LUA_MATHLIBNAME, luaopen_math), (LUA_UTF8LIBNAME, luaopen_utf8),
        ]
        for (name, open) in libraries {
            luaL_requiref(state, name, open, 1)
            sourced_lua_pop(state, 1)
        }
        try load(Self.prelude, chunk: "=prelude")
        try call(arguments: 0, results: 3, in: "prelude")
        lua_setfield(state, sourced_lua_registryindex(), Self.rejectKey)
        lua_setfield(state, sourced_lua_registryindex(), Self.arrayKey)
        lua_setfield(state, sourced_lua_registryindex(), Self.nullKey)
    }

    private func run(_ source: String, chunk: String) throws(ModelFault) {
        try load(source, chunk: chunk)
        try call(arguments: 0, results: 1, in: "loading")
        guard sourced_lua_istable(state, -1) != 0 else {
            throw ModelFault("the file must return a table (the model), not \(typeName(at: -1))")
        }
        for function in ["decide", "evolve"] {
            lua_getfield(state, -1, function)
            defer { sourced_lua_pop(state, 1) }
            guard sourced_lua_isfunction(state, -1) != 0 else {
                throw ModelFault("the model table needs a function \"\(function)\", not \(typeName(at: -1))")
            }
        }
        lua_setfield(state, sourced_lua_registryindex(), Self.modelKey)
        try load(Self.seal, chunk: "=seal")
        try call(arguments: 0, results: 0, in: "loading")
    }

    private func load(_ source: String, chunk: String) throws(ModelFault) {
        var source = source
        let status = source.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { sourced_lua_loadsource(state, $0.baseAddress, $0.count, chunk) }
        }
        guard status == LUA_OK else {
            defer { sourced_lua_pop(state, 1) }
            throw ModelFault(errorMessage(status: status))
        }
    }

    // MARK: - Calls

    /// Calls the function below `arguments` arguments on the stack, within the limits; leaves
    /// `results` values or throws, the stack then as before the function was pushed.
    private func call(arguments: Int32, results: Int32, in function: String) throws(ModelFault) {
        limits.pointee.instructions = 0
        limits.pointee.exhausted = 0
        let status = sourced_lua_pcall(state, arguments, results)
        guard status == LUA_OK else {
            defer { sourced_lua_pop(state, 1) }
            if let rejection = rejection(at: -1) {
                throw ModelFault("\(function): reject() is for decide only (reason: \(rejection))")
            }
            throw ModelFault("\(function): \(errorMessage(status: status))")
        }
    }

    /// The reason of a `reject(reason)` error value at `index`, if it is one.
    private func rejection(at index: Int32) -> String? {
        guard sourced_lua_istable(state, index) != 0, lua_getmetatable(state, index) != 0 else { return nil }
        lua_getfield(state, sourced_lua_registryindex(), Self.rejectKey)
        defer { sourced_lua_pop(state, 2) }
        guard lua_rawequal(state, -1, -2) != 0 else { return nil }
        lua_getfield(state, index < 0 ? index - 2 : index, "reason")
        defer { sourced_lua_pop(state, 1) }
        return string(at: -1) ?? "rejected"
    }

    private func errorMessage(status: Int32) -> String {
        switch status {
        case LUA_ERRMEM:
            return "memory limit of \(limits.pointee.memory_limit) bytes exceeded"
        default:
            if limits.pointee.exhausted == 1 {
                return "instruction budget of \(limits.pointee.instruction_limit) exhausted"
            }
            if let message = string(at: -1) { return message }
            return "error object is \(typeName(at: -1))"
        }
    }

    /// Calls the model's `decide(state, command)`: the events it returns, or its rejection.
    func decide(_ command: TaggedObject, state current: JSONValue?) throws(ModelError) -> [TaggedObject] {
        let base = lua_gettop(state)
        defer { lua_settop(state, base) }
        do throws(ModelFault) {
            try pushCall("decide", current, command.value)
        } catch {
            throw .fault(spoil(error, in: "decide"))
        }
        limits.pointee.instructions = 0
        limits.pointee.exhausted = 0
        let status = sourced_lua_pcall(state, 2, 1)
        guard status == LUA_OK else {
            if let reason = rejection(at: -1) { throw .rejected(Rejection(reason)) }
            throw .fault(spoil(ModelFault(errorMessage(status: status)), in: "decide"))
        }
        do throws(ModelFault) {
            return try events(at: -1)
        } catch {
            throw .fault(spoil(error, in: "decide"))
        }
    }

    /// Calls the model's `evolve(state, event)`: the state it returns.
    func evolve(_ current: JSONValue?, with event: TaggedObject) throws(ModelFault) -> JSONValue {
        let base = lua_gettop(state)
        defer { lua_settop(state, base) }
        do throws(ModelFault) {
            try pushCall("evolve", current, event.value)
            try call(arguments: 2, results: 1, in: "evolve")
            guard sourced_lua_isnil(state, -1) == 0 else {
                throw ModelFault("evolve: returned nil; it must return the new state for \(event.type)")
            }
            return try value(at: -1, depth: 0)
        } catch {
            throw spoil(error, in: "evolve")
        }
    }

    /// Marks the machine for discarding and names the model in `fault`.
    private func spoil(_ fault: ModelFault, in function: String) -> ModelFault {
        isSpoiled = true
        let reason = fault.reason.hasPrefix("\(function):") ? fault.reason : "\(function): \(fault.reason)"
        return ModelFault("model \"\(name)\": \(reason)")
    }

    /// Pushes the model's `function` and its two arguments, `state` and `value`.
    private func pushCall(_ function: String, _ state: JSONValue?, _ value: JSONValue) throws(ModelFault) {
        guard lua_checkstack(self.state, 8) != 0 else { throw ModelFault("out of Lua stack") }
        lua_getfield(self.state, sourced_lua_registryindex(), Self.modelKey)
        lua_getfield(self.state, -1, function)
        lua_rotate(self.state, -2, 1)
        sourced_lua_pop(self.state, 1)
        try push(state)
        try push(value, depth: 0)
    }

    // MARK: - Values

    /// The events a `decide` returned at `index`: a list (possibly empty) of event tables.
    private func events(at index: Int32) throws(ModelFault) -> [TaggedObject] {
        guard sourced_lua_istable(state, index) != 0 else {
            throw ModelFault("must return a list of events, not \(typeName(at: index))")
        }
        let list: [JSONValue]
        switch try value(at: index, depth: 0) {
        case .array(let elements): list = elements
        case .object(let members) where members.isEmpty: list = []
        default: throw ModelFault("must return a list of events (a table with keys 1..n), not a table with other keys")
        }
        return try list.enumerated().map { (offset, element) throws(ModelFault) in
            guard let event = TaggedObject(element) else {
                throw ModelFault("event \(offset + 1) must be a table with a non-empty string \"type\", not \(element.kind)")
            }
            return event
        }
    }

    /// Pushes `value` as Lua sees it (`nil` for no value; docs/models.md, "Values").
    private func push(_ value: JSONValue?) throws(ModelFault) {
        guard let value else { return lua_pushnil(state) }
        try push(value, depth: 0)
    }

    private func push(_ value: JSONValue, depth: Int) throws(ModelFault) {
        guard depth < Self.maximumDepth, lua_checkstack(state, 4) != 0 else {
            throw ModelFault("a value nests more than \(Self.maximumDepth) levels deep")
        }
        switch value {
        case .null:
            lua_getfield(state, sourced_lua_registryindex(), Self.nullKey)
        case .bool(let flag):
            lua_pushboolean(state, flag ? 1 : 0)
        case .number(let number):
            if Self.isIntegerLiteral(number.literal), let integer = Int64(number.literal) {
                lua_pushinteger(state, integer)
            } else {
                lua_pushnumber(state, number.floatingPoint(as: Double.self) ?? .nan)
            }
        case .string(let string):
            pushString(string)
        case .array(let elements):
            lua_createtable(state, Int32(clamping: elements.count), 0)
            for (offset, element) in elements.enumerated() {
                try push(element, depth: depth + 1)
                lua_rawseti(state, -2, lua_Integer(offset + 1))
            }
            lua_getfield(state, sourced_lua_registryindex(), Self.arrayKey)
            lua_setmetatable(state, -2)
        case .object(let members):
            lua_createtable(state, 0, Int32(clamping: members.count))
            for member in members {
                pushString(member.key)
                try push(member.value, depth: depth + 1)
                lua_rawset(state, -3)
            }
        }
    }

    private func pushString(_ string: String) {
        var string = string
        string.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(state, $0.baseAddress, $0.count) }
        }
    }

    /// Whether a JSON number is written as an integer: digits, with an optional minus sign.
    private static func isIntegerLiteral(_ literal: String) -> Bool {
        !literal.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The JSON value of the Lua value at `index` (docs/models.md, "Values").
    private func value(at index: Int32, depth: Int) throws(ModelFault) -> JSONValue {
        let index = lua_absindex(state, index)
        switch lua_type(state, index) {
        case LUA_TBOOLEAN:
            return .bool(lua_toboolean(state, index) != 0)
        case LUA_TNUMBER:
            if lua_isinteger(state, index) != 0 {
                return .integer(sourced_lua_tointeger(state, index))
            }
            let number = sourced_lua_tonumber(state, index)
            guard let json = JSONNumber(number) else { throw ModelFault("\(number) is not a JSON number") }
            return .number(json)
        case LUA_TSTRING:
            guard let string = string(at: index) else { throw ModelFault("a string is not valid UTF-8") }
            return .string(string)
        case LUA_TTABLE:
            return try table(at: index, depth: depth)
        default:
            throw ModelFault("a \(typeName(at: index)) has no JSON form")
        }
    }

    private func table(at index: Int32, depth: Int) throws(ModelFault) -> JSONValue {
        guard depth < Self.maximumDepth, lua_checkstack(state, 6) != 0 else {
            throw ModelFault("a table nests more than \(Self.maximumDepth) levels deep (or holds itself)")
        }
        switch marker(of: index) {
        case .null:
            return .null
        case .array:
            let count = lua_rawlen(state, index)
            var elements: [JSONValue] = []
            for position in 0..<count {
                lua_rawgeti(state, index, lua_Integer(position + 1))
                defer { sourced_lua_pop(state, 1) }
                guard sourced_lua_isnil(state, -1) == 0 else { throw ModelFault("array element \(position + 1) is nil") }
                elements.append(try value(at: -1, depth: depth + 1))
            }
            return .array(elements)
        case nil:
            break
        }
        var members: [JSONValue.Member] = []
        var elements: [(Int64, JSONValue)] = []
        lua_pushnil(state)
        while lua_next(state, index) != 0 {
            // Key at -2, value at -1; the key stays for the next `lua_next`.
            defer { sourced_lua_pop(state, 1) }
            switch lua_type(state, -2) {
            case LUA_TSTRING:
                guard let key = string(at: -2) else { throw ModelFault("a key is not valid UTF-8") }
                members.append(JSONValue.Member(key: key, value: try value(at: -1, depth: depth + 1)))
            case LUA_TNUMBER where lua_isinteger(state, -2) != 0:
                elements.append((sourced_lua_tointeger(state, -2), try value(at: -1, depth: depth + 1)))
            default:
                throw ModelFault("a table key is a \(typeName(at: -2)); keys are strings (objects) or 1..n (arrays)")
            }
        }
        if elements.isEmpty {
            // "type" first, the other keys in byte order: the same bytes for the same table.
            return .object(members.sorted { lhs, rhs in
                lhs.key == "type" || (rhs.key != "type" && lhs.key.utf8.lexicographicallyPrecedes(rhs.key.utf8))
            })
        }
        guard members.isEmpty else { throw ModelFault("a table mixes string keys and integer keys") }
        elements.sort { $0.0 < $1.0 }
        guard elements.enumerated().allSatisfy({ $0.offset + 1 == $0.element.0 }) else {
            throw ModelFault("a table with integer keys must hold exactly 1..n (an array without holes)")
        }
        return .array(elements.map(\.1))
    }

    private enum Marker { case null, array }

    /// Whether the table at `index` is `null` or made by `array()`.
    private func marker(of index: Int32) -> Marker? {
        lua_getfield(state, sourced_lua_registryindex(), Self.nullKey)
        defer { sourced_lua_pop(state, 1) }
        if lua_rawequal(state, index, -1) != 0 { return .null }
        guard lua_getmetatable(state, index) != 0 else { return nil }
        lua_getfield(state, sourced_lua_registryindex(), Self.arrayKey)
        defer { sourced_lua_pop(state, 2) }
        return lua_rawequal(state, -1, -2) != 0 ? .array : nil
    }

    /// The string at `index` if it is one (not a number) and valid UTF-8.
    private func string(at index: Int32) -> String? {
        guard lua_type(state, index) == LUA_TSTRING else { return nil }
        var length = 0
        guard let bytes = sourced_lua_tolstring(state, index, &length) else { return nil }
        return String(validating: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    private func typeName(at index: Int32) -> String {
        String(cString: lua_typename(state, lua_type(state, index)))
    }

    // MARK: - Describing the model

    /// The field `key` of the model table, as JSON, or `nil` if absent.
    func modelField(_ key: String) throws(ModelFault) -> JSONValue? {
        let base = lua_gettop(state)
        defer { lua_settop(state, base) }
        lua_getfield(state, sourced_lua_registryindex(), Self.modelKey)
        lua_getfield(state, -1, key)
        guard sourced_lua_isnil(state, -1) == 0 else { return nil }
        do throws(ModelFault) {
            return try value(at: -1, depth: 0)
        } catch {
            throw ModelFault("field \"\(key)\": \(error.reason)")
        }
    }
}
