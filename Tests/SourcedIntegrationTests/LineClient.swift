import SourcedClient
import SourcedJSON
import SourcedWire

/// The test client: the shipped client, plus the raw-line helpers tests use.
typealias LineClient = SourcedConnection

extension SourcedConnection {
    static func connect(_ path: String) async throws -> SourcedConnection {
        try await connect(to: path)
    }

    /// Whether a daemon answers a ping on the socket at `path`.
    static func answersPing(at path: String) async -> Bool {
        guard let client = try? await connect(to: path) else { return false }
        let reply = try? await client.request(["op": "ping"])
        await client.close()
        return reply?["ok"] == true
    }

    /// Sends one raw request line and returns its parsed reply.
    func request(line: String) async throws -> JSONValue {
        try await send(line: line)
        return try await receive()
    }

    func send(_ line: String) async throws {
        try await send(line: line)
    }

    func sendRaw(_ bytes: [UInt8]) async throws {
        try await send(bytes: bytes)
    }

    func readLine() async throws -> String? {
        try await receiveLine()
    }

    func readReply() async throws -> JSONValue {
        try await receive()
    }
}
