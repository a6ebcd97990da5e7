import SourcedEngine
import SourcedWire

extension ProtocolError {
    /// The reply's error for an engine failure.
    init(_ error: EngineError) {
        switch error {
        case .unknownModel:
            self.init(.unknownModel, error.description)
        case .emptyChain:
            self.init(.badRequest, error.description)
        case .rejected(let rejection):
            self.init(.rejected, rejection.reason)
        case .wrongVersion(let expected, let actual):
            self.init(.wrongVersion, error.description, details: ["expected": .integer(expected), "actual": .integer(actual)])
        case .tooLarge:
            self.init(.tooLarge, error.description)
        case .corrupt:
            self.init(.corrupt, error.description)
        case .unavailable:
            self.init(.unavailable, error.description)
        case .outcomeUnknown:
            self.init(.outcomeUnknown, error.description)
        case .commandIDReused:
            self.init(.commandIDReused, error.description)
        case .modelFailed:
            self.init(.modelFailed, error.description)
        }
    }
}
