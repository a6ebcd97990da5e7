import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import SourcedProtocol

/// A test client speaking newline-delimited JSON over a Unix socket, without blocking a thread.
final class LineClient {
    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private var lines: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator

    private init(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
        lines = channel.inbound.makeAsyncIterator()
    }

    static func connect(_ path: String) async throws -> LineClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: 64 << 20)
                    )
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
        return LineClient(channel)
    }

    /// Whether a daemon answers a ping on the socket at `path`.
    static func answersPing(at path: String) async -> Bool {
        guard let client = try? await connect(path) else { return false }
        let reply = try? await client.request(#"{"op":"ping"}"#)
        await client.close()
        return reply?["ok"] == true
    }

    /// Sends `line` and a newline.
    func send(_ line: String) async throws {
        try await sendRaw(Array(line.utf8) + [0x0A])
    }

    /// Sends `bytes` as they are.
    func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Closes the sending side; the daemon still answers what it received.
    func finishSending() {
        channel.outbound.finish()
    }

    /// The next reply line, or `nil` once the daemon closed the connection (or after `timeout`).
    func readLine(timeout: TimeAmount = .seconds(30)) async throws -> String? {
        let raw = channel.channel
        let timer = raw.eventLoop.scheduleTask(in: timeout) { raw.close(promise: nil) }
        defer { timer.cancel() }
        do {
            guard let buffer = try await lines.next() else { return nil }
            return String(buffer: buffer)
        } catch is NIOExtrasErrors.LeftOverBytesError {
            return nil
        }
    }

    /// The next reply, parsed.
    func readReply() async throws -> JSONValue {
        guard let line = try await readLine() else { throw ConnectionClosed() }
        return try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
    }

    /// Sends one request line and returns its parsed reply.
    func request(_ line: String) async throws -> JSONValue {
        try await send(line)
        return try await readReply()
    }

    func close() async {
        try? await channel.channel.close()
    }
}

struct ConnectionClosed: Error {}

extension JSONValue {
    /// The `error.code` of a failed reply.
    var errorCode: String? {
        self["error"]?["code"]?.stringValue
    }
}
