import SourcedCore
import SourcedJSON

/// One parsed request line (`docs/protocol.md`). Parsing fails only when the line is not a JSON
/// object; after that a bad field becomes ``Operation/invalid(_:)``, so the reply can still echo
/// the client's `req`.
public struct Request: Sendable {
    public enum Operation: Sendable {
        /// `execute`, `get` or `events`: work inside one aggregate, for a model of the catalog.
        case aggregate(any AggregateRequest)
        case models
        /// `models` with `"reload": true`: re-read the models directory, then answer what changed.
        case reloadModels
        case stats
        case ping
        /// Stream one line per request the daemon handles, until the client closes.
        case monitor
        /// A page of a model's aggregate ids, after `after`, at most `limit`.
        case list(model: String, after: AggregateID?, limit: Int)
        /// Stream committed events after `from` (`nil`: from now on), optionally filtered.
        case subscribe(from: UInt64?, model: String?, id: AggregateID?)
        /// Ask a projection; `parameters` is the whole request object.
        case query(projection: String, parameters: JSONValue)
        /// A JSON object whose fields do not make a request: the reply is this error.
        case invalid(ProtocolError)
    }

    /// Requests may page events in steps of at most this many.
    public static let maximumEventLimit = 10_000
    /// The page size when a request names none.
    public static let defaultEventLimit = 1_000
    /// `list` pages at most this many ids.
    public static let maximumListLimit = 10_000
    /// The `list` page size when a request names none.
    public static let defaultListLimit = 1_000

    /// The client's correlation value: the JSON text of the line's `req` member byte for byte
    /// (checked JSON, without the whitespace around it), for the reply to echo; `nil` if the line
    /// has none.
    public let req: [UInt8]?
    public let operation: Operation
    /// The operation the line names, even when its other fields are wrong (`invalid` for a line
    /// that names none this daemon knows).
    public let kind: RequestKind

    /// Parses one request line (without its newline): one checking pass over the line, then only
    /// the members the operation needs are converted (``JSONEnvelope``). Throws only if the line
    /// is not one JSON object (`bad_request`).
    public init(line: some Collection<UInt8>, catalog: ModelCatalog) throws(ProtocolError) {
        let parsed: (req: [UInt8]?, operation: Operation, kind: RequestKind)
        do {
            parsed = try JSONEnvelope.withScanned(line) { request in
                let fields = Fields(request: request)
                let req = request.rawValue(forKey: "req").map { Array($0) }
                do {
                    let operation = try Self.operation(fields, catalog: catalog)
                    return (req, operation, operation.kind)
                } catch {
                    let kind = (try? fields.decode(String.self, .op)).flatMap(RequestKind.init(rawValue:)) ?? .invalid
                    return (req, .invalid(ProtocolError(decoding: error, in: "invalid request")), kind)
                }
            }
        } catch JSONEnvelope.ScanError.notAnObject {
            throw ProtocolError(.badRequest, "a request must be a JSON object")
        } catch {
            throw ProtocolError(.badRequest, "request is not valid JSON: \(error)")
        }
        req = parsed.req
        operation = parsed.operation
        kind = parsed.kind
    }

    private enum Field: String, CodingKey {
        case op, model, id, command, commands, expect, from, limit, projection, after, reload
        case commandID = "command_id"
    }

    /// The request object's members, decoded with the rules of `Decodable`: a missing or `null`
    /// optional field is absent, and errors name the field.
    private struct Fields {
        var request: JSONEnvelope

        func contains(_ field: Field) -> Bool {
            request.contains(field.rawValue)
        }

        func decode<T: Decodable>(_ type: T.Type, _ field: Field) throws -> T {
            guard request.contains(field.rawValue) else {
                throw ProtocolError(.badRequest, "missing field \"\(field.rawValue)\"")
            }
            return try request.decode(type, forKey: field)
        }

        func decodeIfPresent<T: Decodable>(_ type: T.Type, _ field: Field) throws -> T? {
            try request.decodeIfPresent(type, forKey: field)
        }

        /// The whole request as a value, for the operations that take it all (`query`).
        func value() throws -> JSONValue {
            try JSONParser.parse(request.bytes)
        }

        /// The member `field` as an object of its own, if it is one.
        func object(_ field: Field) -> JSONEnvelope? {
            request.rawValue(forKey: field.rawValue).flatMap { try? JSONEnvelope($0) }
        }
    }

    private static func operation(_ fields: Fields, catalog: ModelCatalog) throws -> Operation {
        let op = try fields.decode(String.self, .op)
        switch op {
        case "execute", "get", "events":
            let name = try fields.decode(String.self, .model)
            guard let model = catalog.model(named: name) else {
                throw ProtocolError(.unknownModel, "unknown model \"\(name)\"; known models: \(catalog.names.joined(separator: ", "))")
            }
            return .aggregate(try aggregateRequest(op, model.type, model, try aggregateID(try fields.decode(String.self, .id)), fields))
        case "subscribe":
            let from = try fields.decodeIfPresent(UInt64.self, .from)
            let model = try fields.decodeIfPresent(String.self, .model)
            if let model, catalog.model(named: model) == nil {
                throw ProtocolError(.unknownModel, "unknown model \"\(model)\"; known models: \(catalog.names.joined(separator: ", "))")
            }
            guard let raw = try fields.decodeIfPresent(String.self, .id) else {
                return .subscribe(from: from, model: model, id: nil)
            }
            guard model != nil else { throw ProtocolError(.badRequest, "field \"id\" needs \"model\": ids are per model") }
            return .subscribe(from: from, model: model, id: try aggregateID(raw))
        case "query":
            let projection = try fields.decode(String.self, .projection)
            return .query(projection: projection, parameters: try fields.value())
        case "models": return try fields.decodeIfPresent(Bool.self, .reload) == true ? .reloadModels : .models
        case "stats": return .stats
        case "ping": return .ping
        case "monitor": return .monitor
        case "list":
            let name = try fields.decode(String.self, .model)
            guard catalog.model(named: name) != nil else {
                throw ProtocolError(.unknownModel, "unknown model \"\(name)\"; known models: \(catalog.names.joined(separator: ", "))")
            }
            let after = try fields.decodeIfPresent(String.self, .after).map(aggregateID)
            let limit = try fields.decodeIfPresent(Int.self, .limit) ?? defaultListLimit
            guard (1...maximumListLimit).contains(limit) else {
                throw ProtocolError(.badRequest, "field \"limit\" must be between 1 and \(maximumListLimit)")
            }
            return .list(model: name, after: after, limit: limit)
        default:
            throw ProtocolError(.unknownOp, "unknown op \"\(op)\"; ops: execute, get, events, subscribe, query, list, models, stats, ping, monitor")
        }
    }

    /// The `command_id` of an `execute`, if it has one: the same rules as ids (1–128 bytes of
    /// UTF-8 without control characters).
    private static func commandID(_ fields: Fields) throws -> [UInt8]? {
        guard let raw = try fields.decodeIfPresent(String.self, .commandID) else { return nil }
        do {
            _ = try AggregateID(raw)
        } catch {
            throw ProtocolError(.badRequest, "invalid command_id: \(error.reason.dropFirst("id ".count)); give 1 to \(AggregateID.maximumByteCount) bytes without control characters")
        }
        return Array(raw.utf8)
    }

    private static func aggregateID(_ raw: String) throws(ProtocolError) -> AggregateID {
        do {
            return try AggregateID(raw)
        } catch {
            throw ProtocolError(.invalidID, "invalid id: \(error.reason)")
        }
    }

    private static func aggregateRequest<Model: AggregateModel>(
        _ op: String,
        _ model: Model.Type,
        _ entry: ModelCatalog.Entry,
        _ id: AggregateID,
        _ fields: Fields
    ) throws -> any AggregateRequest {
        let key = AggregateKey(model: entry.name, id: id)
        switch op {
        case "execute":
            let expected = try fields.decodeIfPresent(UInt64.self, .expect)
            let commands = try commands(Model.self, fields)
            if let program = entry.program {
                try check(commands, of: program)
            }
            return ExecuteRequest<Model>(key: key, commands: commands, expected: expected, commandID: try commandID(fields))
        case "get":
            return GetRequest<Model>(key: key)
        default:
            let from = try fields.decodeIfPresent(UInt64.self, .from) ?? 0
            let limit = try fields.decodeIfPresent(Int.self, .limit) ?? defaultEventLimit
            guard (1...maximumEventLimit).contains(limit) else {
                throw ProtocolError(.badRequest, "field \"limit\" must be between 1 and \(maximumEventLimit)")
            }
            return EventsRequest<Model>(key: key, after: from, limit: limit)
        }
    }

    /// Checks a dynamic model's commands against what its program declares, as decoding checks
    /// a Swift model's: a known `"type"`, and each declared field present with its JSON type.
    /// Keys the program does not declare are passed on, as decoding ignores them.
    private static func check(_ commands: [some Any], of program: any ModelProgram) throws {
        for case let command as TaggedObject in commands {
            guard let description = program.commands.first(where: { $0.type == command.type }) else {
                let known = program.commands.map(\.type).joined(separator: ", ")
                throw ProtocolError(.unknownCommand, "unknown command \"\(command.type)\" for model \(program.name); commands: \(known)")
            }
            // Checked in any order; the first wrong field by name is reported.
            guard !description.fields.allSatisfy({ field, type in command.value[field].map { CommandDescription.value($0, hasType: type) } ?? false })
            else { continue }
            for (field, type) in description.fields.sorted(by: { $0.key < $1.key }) {
                guard let value = command.value[field] else {
                    throw ProtocolError(.badRequest, "invalid request: command \"\(command.type)\" needs field \"\(field)\" (\(type))")
                }
                guard CommandDescription.value(value, hasType: type) else {
                    throw ProtocolError(.badRequest, "invalid request: field \"\(field)\" of command \"\(command.type)\" must be \(type == "integer" ? "an" : "a") \(type), not \(value.kind)")
                }
            }
        }
    }

    /// The chain of an `execute`: one `command` object or a non-empty `commands` array.
    private static func commands<Model: AggregateModel>(
        _ model: Model.Type,
        _ fields: Fields
    ) throws -> [Model.Command] {
        do {
            switch (fields.contains(.command), fields.contains(.commands)) {
            case (true, false):
                // The model's own reader, if it has one and it takes the object; else Codable,
                // which also says precisely what is wrong.
                if let readable = Model.Command.self as? any JSONReadable.Type,
                   let object = fields.object(.command),
                   let command = readable.init(reading: object) as? Model.Command {
                    return [command]
                }
                return [try fields.decode(TaggedCoding<Model.Command>.self, .command).value]
            case (false, true):
                let chain = try fields.decode([TaggedCoding<Model.Command>].self, .commands).map { $0.value }
                guard !chain.isEmpty else { throw ProtocolError(.badRequest, "field \"commands\" must not be empty") }
                return chain
            default:
                throw ProtocolError(.badRequest, "execute needs exactly one of \"command\" (an object) or \"commands\" (an array)")
            }
        } catch let error as UnknownTypeError {
            let known = Model.commands.map(\.type).joined(separator: ", ")
            throw ProtocolError(.unknownCommand, "unknown command \"\(error.type)\" for model \(Model.name); commands: \(known)")
        }
    }
}
