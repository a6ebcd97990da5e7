/// Why a host was not used, when postgres-nio's error would not say it.
struct ConnectionAttemptFailure: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
