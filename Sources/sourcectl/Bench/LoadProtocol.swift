import SourcedClient
import SourcedWire
import Synchronization

/// What ``LoadLoop`` speaks on its connections: the bytes of the request on an aggregate, where a
/// reply ends in what has arrived, and what a complete reply says. The loop, its timing, its key
/// distributions and its report are the same whatever the protocol, so that two servers driven
/// by it are driven at the same cost per request to the client.
struct LoadProtocol: Sendable {
    /// What a complete reply says about its request.
    enum Outcome: Equatable {
        /// The server applied the request.
        case acknowledged
        /// The server refused it, or said something else; `code` names the reply for the report
        /// (a Sourced error code, the first word of a Redis error such as `ERR`, or `malformed`).
        /// `outcomeUnknown` is true when the request may or may not have been applied.
        case failed(code: String, outcomeUnknown: Bool)
    }

    /// The server as error messages name it ("the daemon", "redis-server").
    let server: String
    /// Appends the measured request on aggregate `index` (in `0..<aggregates`) to `bytes`.
    let request: @Sendable (_ index: Int, _ bytes: inout [UInt8]) -> Void
    /// The length of the first complete reply at the start of `unread`, terminator included, or
    /// `nil` while it has not fully arrived.
    let replyLength: @Sendable (_ unread: ArraySlice<UInt8>) -> Int?
    /// What a complete reply (exactly the bytes `replyLength` delimited) says.
    let outcome: @Sendable (_ reply: ArraySlice<UInt8>) -> Outcome

    /// Sourced's newline-delimited JSON: `model.command(ids[index])` and a newline, the bytes
    /// `sourcectl bench` has always sent (with `commandIDs`, each with a `command_id` of its own,
    /// numbered across all connections); a reply is one line, acknowledged if it holds `"ok":true`.
    static func sourced(model: BenchModel, ids: [String], commandIDs: Bool) -> LoadProtocol {
        let acknowledged = Array(#""ok":true"#.utf8)
        let sequence = Atomic<Int>(0)
        return LoadProtocol(server: "the daemon") { index, bytes in
            let line = model.command(ids[index]).utf8
            if commandIDs {
                bytes.append(contentsOf: line.dropLast())
                bytes.append(contentsOf: #","command_id":"b\#(sequence.add(1, ordering: .relaxed).newValue)"}"#.utf8)
            } else {
                bytes.append(contentsOf: line)
            }
            bytes.append(0x0A)
        } replyLength: { unread in
            unread.firstIndex(of: 0x0A).map { $0 - unread.startIndex + 1 }
        } outcome: { reply in
            if reply.firstRange(of: acknowledged) != nil { return .acknowledged }
            let line = String(decoding: reply.dropLast(), as: UTF8.self)
            let code = (try? SourcedConnection.decode(line))?.errorCode ?? "malformed"
            return .failed(code: code, outcomeUnknown: code == ErrorCode.outcomeUnknown.rawValue)
        }
    }

    /// RESP to a Redis server: `RPUSH <key of index> <value>` (see ``RedisWorkload``); a reply is
    /// acknowledged if it is an integer (`:N`), and an error reply (`-ERR ...`) counts under its
    /// first word.
    static func redis(_ workload: RedisWorkload) -> LoadProtocol {
        LoadProtocol(server: "redis-server") { index, bytes in
            workload.appendPush(index, to: &bytes)
        } replyLength: { unread in
            RESP.frameLength(unread)
        } outcome: { reply in
            RESP.integer(reply) != nil ? .acknowledged : .failed(code: RESP.errorCode(reply), outcomeUnknown: false)
        }
    }
}
