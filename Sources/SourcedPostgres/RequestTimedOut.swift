/// A request had no answer within its time, and its connection was closed
/// (``PostgresNIO/PostgresConnection/closing(within:_:)``).
struct RequestTimedOut: Error, CustomStringConvertible {
    /// How long the request was given.
    var after: Duration

    var description: String { "no answer within \(after): the connection was closed" }
}
