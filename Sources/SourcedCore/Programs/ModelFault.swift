/// A model program that failed to answer: it ran out of its instruction budget or memory,
/// raised an error, or returned something that is not what the engine asked for.
///
/// Unlike a ``Rejection`` it says the model is broken, not the command: nothing is recorded, the
/// aggregate's state is unchanged, and clients see `model_failed` with ``reason``.
public struct ModelFault: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, naming the model and the function, e.g.
    /// `model "cart": decide: instruction budget of 10000000 exhausted`.
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
