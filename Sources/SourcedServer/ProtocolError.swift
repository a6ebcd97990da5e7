import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedWire

/// A failed request as the client sees it: a stable code and a message saying what to do.
struct ProtocolError: Error, Sendable {
    var code: ErrorCode
    var message: String
    /// Extra members of the reply's `error` object, e.g. `expected` and `actual` versions.
    var details: JSONValue = [:]

    init(_ code: ErrorCode, _ message: String, details: JSONValue = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    init(_ error: EngineError) {
        switch error {
        case .unknownModel:
            self.init(.unknownModel, error.description)
        case .emptyChain:
            self.init(.badRequest, error.description)
        case .rejected(let rejection):
            self.init(.rejected, rejection.reason)
        case .wrongVersion(let expected, let actual):
            self.init(
                .wrongVersion, error.description,
                details: ["expected": .integer(Int64(clamping: expected)), "actual": .integer(Int64(clamping: actual))]
            )
        case .tooLarge:
            self.init(.tooLarge, error.description)
        case .corrupt:
            self.init(.corrupt, error.description)
        case .unavailable:
            self.init(.unavailable, error.description)
        case .outcomeUnknown:
            self.init(.outcomeUnknown, error.description)
        }
    }

    /// Describes a decoding failure in the request's terms.
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
            self.init(.badRequest, path.isEmpty ? "\(context): \(context2.debugDescription)" : "\(context): field \"\(path)\" is invalid")
        default:
            self.init(.badRequest, "\(context): \(error)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
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
