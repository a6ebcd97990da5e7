import Foundation
import SourcedClient
import SourcedJSON

/// The one connection an interactive session keeps open for all its requests: opened on first
/// use, and opened again, with a message, when it turns out to have been lost (the daemon
/// restarted or closed it).
final class HeldConnection: Sendable {
    /// The daemon's socket.
    let path: String
    private let lock = NSLock()
    /// The connection kept between requests; guarded by `lock` (a `Mutex` cannot take a value
    /// that is not `Sendable` back in from a closure's capture).
    nonisolated(unsafe) private var kept: SourcedConnection?

    init(path: String) {
        self.path = path
    }

    /// Sends `request` and returns its reply line.
    ///
    /// If the connection kept from an earlier request fails, the request is sent once more on a
    /// new one. That is safe for every request a subcommand makes: `execute` carries a command
    /// id (the daemon runs it at most once), the others only read. A failure on a new connection
    /// is a retryable ``CommandFailure`` with exit status 3.
    func exchange(_ request: JSONValue) async throws -> String {
        let kept = take()
        let reused = kept != nil
        let connection = if let kept { kept } else { try await ConnectionOptions.connect(to: path) }
        do {
            let line = try await connection.exchange(request)
            keep(connection)
            return line
        } catch {
            await connection.close()
            guard reused else { throw CommandFailure(message: "\(error)", status: .unavailable, retryable: true) }
            Terminal.standardError.write("the connection to sourced was lost (\(error)); connecting again to \(path)\n")
            return try await exchange(request)
        }
    }

    /// Closes the connection, if one is open.
    func close() async {
        if let kept = take() {
            await kept.close()
        }
    }

    private func take() -> SourcedConnection? {
        lock.withLock { kept.take() }
    }

    private func keep(_ connection: SourcedConnection) {
        lock.withLock { kept = connection }
    }
}
