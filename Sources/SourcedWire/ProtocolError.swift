import SourcedJSON

/// A failed request as the client sees it: a stable code and a message saying what to do. The
/// reply is `{"ok":false,"error":{"code":C,"message":M,...details}}` (``Reply/failure(_:req:)``).
public struct ProtocolError: Error, Sendable {
    public var code: ErrorCode
    /// For people; clients branch on ``code``.
    public var message: String
    /// An object: extra members of the reply's `error` object, e.g. the `expected` and `actual`
    /// versions of `wrong_version`. Members named `code` or `message` are left out of the reply.
    public var details: JSONValue

    public init(_ code: ErrorCode, _ message: String, details: JSONValue = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    /// Describes a decoding failure in the request's terms: the field and what it must be
    /// (`field "command.amount" must be an integer`), or `error` itself if it is a
    /// `ProtocolError`.
    init(decoding error: any Error, in context: String) {
        switch error {
        case let error as ProtocolError:
            self = error
        case DecodingError.keyNotFound(let key, let context2):
            self.init(.badRequest, "\(context): missing field \"\(Self.path(context2.codingPath + [key]))\"")
        case DecodingError.typeMismatch(let type, let context2), DecodingError.valueNotFound(let type, let context2):
            self.init(.badRequest, "\(context): field \"\(Self.path(context2.codingPath))\" must be \(Self.jsonType(type))")
        case DecodingError.dataCorrupted(let context2):
            let path = Self.path(context2.codingPath)
            self.init(.badRequest, path.isEmpty ? "\(context): \(context2.debugDescription)" : "\(context): field \"\(path)\": \(context2.debugDescription)")
        default:
            self.init(.badRequest, "\(context): \(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.reduce(into: "") { path, key in
            if let index = key.intValue {
                path += "[\(index)]"
            } else {
                path += (path.isEmpty ? "" : ".") + key.stringValue
            }
        }
    }

    private static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is UInt64.Type, is UInt.Type, is Int32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}
