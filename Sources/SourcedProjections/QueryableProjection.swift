import SourcedEngine
import SourcedJSON

/// An event handler that keeps a read model clients can ask about with the `query` op.
public protocol QueryableProjection: EventHandler {
    /// Answers a query; `parameters` is the request object (its `projection` and `op` included).
    /// - Throws: ``ProjectionQueryError`` for parameters the projection does not accept.
    func query(_ parameters: JSONValue) async throws(ProjectionQueryError) -> JSONValue
}

/// Why a projection refused a query, for the client.
public struct ProjectionQueryError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
