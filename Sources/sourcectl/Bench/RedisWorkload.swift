import Foundation
import Glibc

/// What `bench --protocol redis` sends: `RPUSH <key> <value>` with a 100-byte value, to keys
/// named as redis-benchmark names them with `-r` (`stream:000000001234`: the prefix, a colon and
/// the index in twelve digits), and how it checks the lists afterwards.
///
/// The bytes of a push are written from two precomputed parts and the key's digits, so that a
/// request costs the load generator no allocation.
struct RedisWorkload: Sendable {
    /// The value every push appends: 100 bytes, like Sourced's counter command and every row of
    /// `scripts/bench`.
    static let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100)

    let prefix: String
    let aggregates: Int
    /// Digits of the key's index: 12 as redis-benchmark writes them, more if `aggregates` needs.
    private let digits: Int
    /// `*3`, `$5 RPUSH`, the key's length and `PREFIX:`.
    private let head: [UInt8]
    /// CRLF after the key, then `$100` and the value.
    private let tail: [UInt8]

    init(prefix: String, aggregates: Int) {
        self.prefix = prefix
        self.aggregates = aggregates
        digits = max(12, String(max(aggregates - 1, 0)).count)
        var head = [UInt8]()
        RESP.appendHeader(UInt8(ascii: "*"), 3, to: &head)
        RESP.appendHeader(UInt8(ascii: "$"), 5, to: &head)
        head += Array("RPUSH".utf8) + RESP.crlf
        RESP.appendHeader(UInt8(ascii: "$"), prefix.utf8.count + 1 + digits, to: &head)
        head += Array(prefix.utf8) + [UInt8(ascii: ":")]
        self.head = head
        var tail = RESP.crlf
        RESP.appendHeader(UInt8(ascii: "$"), Self.value.count, to: &tail)
        tail += Self.value + RESP.crlf
        self.tail = tail
    }

    /// The name of list `index`, e.g. `stream:000000000042`.
    func key(_ index: Int) -> String {
        var bytes = Array(prefix.utf8) + [UInt8(ascii: ":")]
        appendDigits(index, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `RPUSH <key(index)> <value>` as RESP.
    func appendPush(_ index: Int, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: head)
        appendDigits(index, to: &bytes)
        bytes.append(contentsOf: tail)
    }

    private func appendDigits(_ index: Int, to bytes: inout [UInt8]) {
        let first = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var rest = index
        var position = first + digits - 1
        while rest > 0 && position >= first {
            bytes[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            position -= 1
        }
    }

    /// The length of every list (`LLEN`, 0 for a key that does not exist), read over one
    /// connection to the Unix socket at `path` with up to 256 requests in flight.
    ///
    /// Throws with advice when nothing listens at `path` or the server does not answer as Redis.
    func lengths(path: String) throws(CommandFailure) -> [Int] {
        let descriptor = try LoadLoop.connect(path, server: "redis-server")
        defer { close(descriptor) }
        var replies = ReplyBuffer()
        var lengths = [Int]()
        lengths.reserveCapacity(aggregates)
        var request = [UInt8]()
        let command = Array("LLEN".utf8)
        while lengths.count < aggregates {
            let window = lengths.count..<min(aggregates, lengths.count + LoadLoop.maximumPipeline)
            request.removeAll(keepingCapacity: true)
            for index in window {
                RESP.appendCommand([command, Array(key(index).utf8)], to: &request)
            }
            try LoadLoop.write(request, to: descriptor, server: "redis-server")
            while lengths.count < window.upperBound {
                let reply = replies.next(length: RESP.frameLength) { reply in
                    RESP.integer(reply).map { Result<Int, CommandFailure>.success($0) } ?? .failure(unexpected(reply, path: path, key: key(lengths.count)))
                }
                if let reply {
                    lengths.append(try reply.get())
                    continue
                }
                let count = replies.read(from: descriptor, blocking: true)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else {
                    throw count == 0
                        ? CommandFailure(message: "redis-server at \(path) closed the connection during LLEN", status: .unavailable)
                        : LoadLoop.failure("read from", "redis-server's socket")
                }
            }
        }
        return lengths
    }

    /// The failure for a reply to `LLEN key` that is no integer.
    private func unexpected(_ reply: ArraySlice<UInt8>, path: String, key: String) -> CommandFailure {
        let text = String(decoding: reply.prefix(100), as: UTF8.self).trimmingCharacters(in: .newlines)
        let advice = reply.first == UInt8(ascii: "-")
            ? "use another --prefix, or a server without such keys"
            : "is it a Redis server?"
        return CommandFailure(message: "redis-server at \(path) answered LLEN \(key) with \(text.debugDescription): \(advice)", status: .unavailable)
    }
}
