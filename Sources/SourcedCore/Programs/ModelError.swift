/// Why a chain was not decided: the model rejected a command, or the model itself failed.
public enum ModelError: Error, Hashable, Sendable {
    case rejected(Rejection)
    case fault(ModelFault)
}
