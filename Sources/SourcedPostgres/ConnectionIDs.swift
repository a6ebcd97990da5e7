import Synchronization

/// Numbers connections for postgres-nio's log metadata.
final class ConnectionIDs: Sendable {
    /// The numbers of every connection the module opens.
    static let shared = ConnectionIDs()

    private let last = Atomic<Int>(0)

    func next() -> Int {
        last.add(1, ordering: .relaxed).newValue
    }
}
