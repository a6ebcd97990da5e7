import SourcedCore
import SourcedStorage

/// Why the engine did not carry out a request, with a message a user can act on.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No model of that name is served.
    case unknownModel(String, known: [String])
    /// A request carried no commands.
    case emptyChain
    /// The model refused a command; nothing was written and the state is unchanged.
    case rejected(Rejection)
    /// The request expected another version (optimistic concurrency by the client's choice).
    case wrongVersion(expected: UInt64, actual: UInt64)
    /// The events of one chain are too large for one record.
    case tooLarge(String)
    /// The aggregate's log is damaged; the aggregate is unusable until repaired. Others work.
    case corrupt(String)
    /// The command was not carried out: the engine is shutting down, or storage refused the
    /// write (and rolled it back).
    case unavailable(String)
    /// Storage failed while making the command durable: it may or may not have been recorded.
    /// On the local logs the engine accepts no further writes: restart it so recovery can run.
    /// On PostgreSQL the connection was lost during the commit: the aggregate catches up from the
    /// database at its next request, and a retry with the same command id runs at most once.
    case outcomeUnknown(String)
    /// The request's command id was accepted before for another command on this aggregate.
    case commandIDReused(String)
    /// A model program failed (``ModelFault``): it ran out of its budget or memory, raised an
    /// error, or returned what is not events or a state. Nothing was recorded.
    case modelFailed(String)

    public var description: String {
        switch self {
        case .unknownModel(let name, let known):
            "unknown model \"\(name)\"; known models: \(known.joined(separator: ", "))"
        case .emptyChain:
            "a request must carry at least one command"
        case .rejected(let rejection):
            rejection.reason
        case .wrongVersion(let expected, let actual):
            "expected version \(expected), but the aggregate is at version \(actual)"
        case .tooLarge(let message), .corrupt(let message), .unavailable(let message), .outcomeUnknown(let message),
             .commandIDReused(let message), .modelFailed(let message):
            message
        }
    }

    init(_ error: StorageError) {
        switch error {
        case .corrupt:
            self = .corrupt(error.description)
        case .syncFailed, .rollbackFailed:
            self = .outcomeUnknown(error.description)
        case .recordTooLarge:
            self = .tooLarge(error.description)
        case .io, .stopped, .shutDown, .locked, .positionDropped, .modelDirectoryNeedsRestart:
            self = .unavailable(error.description)
        }
    }

    init(_ error: any Error) {
        if let error = error as? EngineError {
            self = error
        } else if let error = error as? StorageError {
            self.init(error)
        } else if let fault = error as? ModelFault {
            self = .modelFailed(fault.reason)
        } else {
            self = .unavailable("\(error)")
        }
    }
}
