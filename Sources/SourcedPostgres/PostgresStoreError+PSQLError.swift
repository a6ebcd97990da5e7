import PostgresNIO

extension PostgresStoreError {
    /// `error` as the store reports it. A connection lost while `committing` leaves the outcome
    /// unknown, since the commit may have reached the server; while reading or before anything
    /// was sent it is ``unavailable(_:)``. A server error refuses the request, except those of
    /// classes 08 (connection exception) and 57 (operator intervention, e.g. the server shutting
    /// down), which can end a backend whose commit was already under way.
    init(_ error: any Error, committing: Bool) {
        switch error {
        case let error as PostgresStoreError:
            self = error
        case let error as PSQLError where error.code == .server:
            let sqlState = error.serverInfo?[.sqlState] ?? "?????"
            let message = [error.serverInfo?[.message], error.serverInfo?[.detail]].compactMap { $0 }.joined(separator: "; ")
            if sqlState.hasPrefix("08") || sqlState.hasPrefix("57") {
                self = committing ? .outcomeUnknown("\(message) (SQLSTATE \(sqlState))") : .unavailable("\(message) (SQLSTATE \(sqlState))")
            } else {
                self = .refused(sqlState: sqlState, message: message)
            }
        default:
            let reason = ConnectionSlot.reason(error)
            self = committing ? .outcomeUnknown(reason) : .unavailable(reason)
        }
    }
}
