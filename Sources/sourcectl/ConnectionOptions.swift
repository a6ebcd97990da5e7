import ArgumentParser
import Foundation
import SourcedClient
import SourcedJSON
import SourcedWire

/// How a subcommand reaches the daemon and prints its answers.
struct ConnectionOptions: ParsableArguments {
    /// The connection of the interactive session running the subcommand, if one is: requests to
    /// its socket go over it instead of a connection of their own.
    @TaskLocal static var held: HeldConnection?

    @Option(help: "The daemon's socket. (env: SOURCED_SOCKET)")
    var socket: String?

    @Flag(help: "Print the daemon's replies as exact JSON, one per line.")
    var json = false

    /// The socket path: the flag, else the same default as sourced, else the system service's.
    var socketPath: String {
        if let socket { return socket }
        let environment = ProcessInfo.processInfo.environment
        let preferred = DefaultLocations(environment: environment).socketPath
        if environment["SOURCED_SOCKET"] != nil || FileManager.default.fileExists(atPath: preferred) {
            return preferred
        }
        let system = "/run/sourced/sourced.sock"
        return FileManager.default.fileExists(atPath: system) ? system : preferred
    }

    /// Connects, turning failure into exit status 3 with advice.
    func connect() async throws -> SourcedConnection {
        try await Self.connect(to: socketPath)
    }

    /// Connects to the socket at `path`, turning failure into exit status 3 with advice.
    static func connect(to path: String) async throws -> SourcedConnection {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure(
                message: "is sourced running? socket \(path) not found (start it with scripts/start, or pass --socket)",
                status: .unavailable, retryable: true
            )
        }
        do {
            return try await SourcedConnection.connect(to: path)
        } catch let failure as SourcedConnection.Failure {
            if case .permissionDenied = failure {
                throw CommandFailure(message: "\(failure)", status: .unavailable)
            }
            throw CommandFailure(message: "\(failure)", status: .unavailable, retryable: true)
        } catch {
            throw CommandFailure(message: "\(error)", status: .unavailable, retryable: true)
        }
    }

    /// Sends one request and returns its reply line and parsed reply; a failed reply becomes a
    /// ``CommandFailure`` with the matching exit status (after printing it with `--json`, unless
    /// it is retryable and `retrying`: the caller sends the request again).
    ///
    /// In an interactive session (``held``) the request goes over the session's connection, which
    /// stays open; otherwise over a connection of its own, closed afterwards.
    func call(_ request: JSONValue, retrying: Bool = false) async throws -> JSONValue {
        let line: String
        if let held = Self.held, held.path == socketPath {
            line = try await held.exchange(request)
        } else {
            let connection = try await connect()
            do {
                line = try await connection.exchange(request)
            } catch {
                await connection.close()
                throw CommandFailure(message: "\(error)", status: .unavailable, retryable: true)
            }
            await connection.close()
        }
        let reply = try SourcedConnection.decode(line)
        let retryable = [ErrorCode.unavailable.rawValue, ErrorCode.outcomeUnknown.rawValue].contains(reply.errorCode ?? "")
        if json && !(retrying && retryable) {
            Terminal.standardOutput.write(line + "\n")
        }
        guard reply["ok"] == true else {
            var failure = CommandFailure.reply(reply, printed: json && !(retrying && retryable))
            failure.retryable = retryable
            throw failure
        }
        return reply
    }
}

extension CommandFailure {
    /// The failure for a daemon's `{"ok":false,...}` reply.
    static func reply(_ reply: JSONValue, printed: Bool) -> CommandFailure {
        let code = reply.errorCode ?? "internal"
        let message = reply["error"]?["message"]?.stringValue ?? "no message"
        let status: ExitStatus = switch ErrorCode(rawValue: code) {
        case .badRequest, .unknownOp, .unknownModel, .unknownCommand, .unknownProjection, .invalidID: .usage
        case .unavailable, .forbidden: .unavailable
        default: .domain
        }
        return CommandFailure(message: printed ? "" : "\(code): \(message)", status: status)
    }
}
