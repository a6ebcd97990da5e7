import Foundation
import SourcedCore
import SourcedEngine
import SourcedProtocol

/// One parsed request line. Parsing never fails once the line is a JSON object: a bad field
/// becomes ``Operation/invalid(_:)``, so the reply can still echo the client's `req`.
struct Request: Decodable, Sendable {
    enum Operation: Sendable {
        /// `execute`, `get` or `events`: work inside one aggregate.
        case aggregate(any AggregateCall)
        case models
        case stats
        case ping
        /// Stream committed events after `from` (`nil`: from now on), optionally filtered.
        case subscribe(from: UInt64?, model: String?, id: AggregateID?)
        /// Ask a projection; `parameters` is the whole request object.
        case query(projection: String, parameters: JSONValue)
        case invalid(ProtocolError)
    }

    /// Requests may page events in steps of at most this many.
    static let maximumEventLimit = 10_000
    /// The page size when a request names none.
    static let defaultEventLimit = 1_000

    /// The client's correlation value, echoed verbatim in the reply.
    var req: JSONValue?
    var operation: Operation

    private enum Field: String, CodingKey {
        case op, req, model, id, command, commands, expect, from, limit, projection
    }

    /// The `userInfo` key under which the decoder carries the ``ModelCatalog``.
    static let catalogKey = CodingUserInfoKey(rawValue: "sourced.catalog")!

    init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: Field.self)
        req = try? fields.decodeIfPresent(JSONValue.self, forKey: .req)
        do {
            operation = try Self.operation(fields, decoder, catalog: decoder.userInfo[Self.catalogKey] as! ModelCatalog)
        } catch {
            operation = .invalid(ProtocolError(decoding: error, in: "invalid request"))
        }
    }

    private static func operation(_ fields: KeyedDecodingContainer<Field>, _ decoder: any Decoder, catalog: ModelCatalog) throws -> Operation {
        guard fields.contains(.op) else { throw ProtocolError(.badRequest, "missing field \"op\"") }
        let op = try fields.decode(String.self, forKey: .op)
        switch op {
        case "execute", "get", "events":
            guard fields.contains(.model) else { throw ProtocolError(.badRequest, "missing field \"model\"") }
            let name = try fields.decode(String.self, forKey: .model)
            guard let model = catalog.model(named: name) else {
                throw ProtocolError(.unknownModel, "unknown model \"\(name)\"; known models: \(catalog.names.joined(separator: ", "))")
            }
            guard fields.contains(.id) else { throw ProtocolError(.badRequest, "missing field \"id\"") }
            return .aggregate(try call(op, model, try aggregateID(try fields.decode(String.self, forKey: .id)), fields))
        case "subscribe":
            let from = try fields.decodeIfPresent(UInt64.self, forKey: .from)
            let model = try fields.decodeIfPresent(String.self, forKey: .model)
            if let model, catalog.model(named: model) == nil {
                throw ProtocolError(.unknownModel, "unknown model \"\(model)\"; known models: \(catalog.names.joined(separator: ", "))")
            }
            guard let raw = try fields.decodeIfPresent(String.self, forKey: .id) else {
                return .subscribe(from: from, model: model, id: nil)
            }
            guard model != nil else { throw ProtocolError(.badRequest, "field \"id\" needs \"model\": ids are per model") }
            return .subscribe(from: from, model: model, id: try aggregateID(raw))
        case "query":
            guard fields.contains(.projection) else { throw ProtocolError(.badRequest, "missing field \"projection\"") }
            let projection = try fields.decode(String.self, forKey: .projection)
            return .query(projection: projection, parameters: try JSONValue(from: decoder))
        case "models": return .models
        case "stats": return .stats
        case "ping": return .ping
        default:
            throw ProtocolError(.unknownOp, "unknown op \"\(op)\"; ops: execute, get, events, subscribe, query, models, stats, ping")
        }
    }

    private static func aggregateID(_ raw: String) throws(ProtocolError) -> AggregateID {
        do {
            return try AggregateID(raw)
        } catch {
            throw ProtocolError(.invalidID, "invalid id: \(error.reason)")
        }
    }

    private static func call<Model: AggregateModel>(
        _ op: String,
        _ model: Model.Type,
        _ id: AggregateID,
        _ fields: KeyedDecodingContainer<Field>
    ) throws -> any AggregateCall {
        switch op {
        case "execute":
            let expected = try fields.decodeIfPresent(UInt64.self, forKey: .expect)
            return ExecuteCall<Model>(id: id, commands: try commands(Model.self, fields), expected: expected)
        case "get":
            return GetCall<Model>(id: id)
        default:
            let from = try fields.decodeIfPresent(UInt64.self, forKey: .from) ?? 0
            let limit = try fields.decodeIfPresent(Int.self, forKey: .limit) ?? defaultEventLimit
            guard (1...maximumEventLimit).contains(limit) else {
                throw ProtocolError(.badRequest, "field \"limit\" must be between 1 and \(maximumEventLimit)")
            }
            return EventsCall<Model>(id: id, after: from, limit: limit)
        }
    }

    /// The chain of an `execute`: one `command` object or a non-empty `commands` array.
    private static func commands<Model: AggregateModel>(
        _ model: Model.Type,
        _ fields: KeyedDecodingContainer<Field>
    ) throws -> [Model.Command] {
        do {
            switch (fields.contains(.command), fields.contains(.commands)) {
            case (true, false):
                return [try fields.decode(TaggedCoding<Model.Command>.self, forKey: .command).value]
            case (false, true):
                let chain = try fields.decode([TaggedCoding<Model.Command>].self, forKey: .commands).map(\.value)
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
