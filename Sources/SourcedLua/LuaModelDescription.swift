import SourcedCore
import SourcedJSON

/// What a Lua model file declares about itself: `name`, `state_version` and `commands`.
struct LuaModelDescription {
    var name: String
    var stateVersion: Int
    var commands: [CommandDescription]

    /// Reads and checks the description from the model table of `machine`.
    init(_ machine: LuaMachine) throws(ModelFault) {
        guard let name = try machine.modelField("name")?.stringValue else {
            throw ModelFault("the model table needs a string \"name\"")
        }
        guard ModelCatalog.isValidName(name) else {
            throw ModelFault("invalid model name \"\(name)\": use 1 to 64 bytes of a-z, 0-9, - and _")
        }
        self.name = name
        switch try machine.modelField("state_version") {
        case nil:
            stateVersion = 1
        case let value?:
            guard let version = value.integerValue.flatMap({ Int(exactly: $0) }) else {
                throw ModelFault("\"state_version\" must be an integer, not \(value.kind)")
            }
            stateVersion = version
        }
        let list: [JSONValue]
        switch try machine.modelField("commands") {
        case .array(let elements)?: list = elements
        default: throw ModelFault("the model table needs \"commands\", a list of {type = ..., summary = ..., fields = {...}}")
        }
        commands = try list.enumerated().map { (offset, element) throws(ModelFault) in
            try Self.command(element, number: offset + 1)
        }
        var seen: Set<String> = []
        for command in commands where !seen.insert(command.type).inserted {
            throw ModelFault("command \"\(command.type)\" is declared twice")
        }
    }

    private static func command(_ value: JSONValue, number: Int) throws(ModelFault) -> CommandDescription {
        guard let type = value["type"]?.stringValue, !type.isEmpty else {
            throw ModelFault("command \(number) needs a non-empty string \"type\"")
        }
        guard let summary = value["summary"]?.stringValue else {
            throw ModelFault("command \"\(type)\" needs a string \"summary\"")
        }
        var fields: [String: String] = [:]
        switch value["fields"] {
        case nil:
            break
        case .object(let members)?:
            for member in members {
                guard let fieldType = member.value.stringValue, CommandDescription.fieldTypes.contains(fieldType) else {
                    throw ModelFault("field \"\(member.key)\" of command \"\(type)\" must be one of \"string\", \"integer\", \"boolean\", \"number\"")
                }
                guard member.key != "type" else { throw ModelFault("command \"\(type)\" cannot have a field named \"type\"") }
                fields[member.key] = fieldType
            }
        case let other?:
            throw ModelFault("\"fields\" of command \"\(type)\" must be a table of name = JSON type, not \(other.kind)")
        }
        return CommandDescription(type, fields: fields, summary: summary)
    }
}
