/// A query's connection was closed, or closed before the server answered
/// (``PostgresNIO/PostgresConnection/queryWhileOpen(_:logger:)``): whatever the query was, it may
/// or may not have reached the server.
struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the connection closed before the server answered" }
}
