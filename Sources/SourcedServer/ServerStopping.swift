/// The user event a connection's pipeline receives just before the server closes its input to
/// shut down: what the connection then finds unfinished is the server's doing, not the client's.
struct ServerStopping: Sendable {}
