import SourcedClient
import SourcedJSON

extension SourcedConnection {
    /// Sends `request` and returns its reply line, as received.
    ///
    /// Throws ``SourcedConnection/Failure/closed`` if the daemon closed the connection first.
    func exchange(_ request: JSONValue) async throws -> String {
        try await send(request)
        guard let line = try await receiveLine() else { throw Failure.closed }
        return line
    }
}
