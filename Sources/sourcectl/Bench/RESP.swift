/// The parts of RESP, Redis's wire protocol, that `bench --protocol redis` needs: commands as
/// arrays of bulk strings, and replies delimited and read without allocating.
enum RESP {
    /// Appends the command `arguments` as RESP (`*N`, then `$LEN` and the bytes of each).
    static func appendCommand(_ arguments: [[UInt8]], to bytes: inout [UInt8]) {
        appendHeader(UInt8(ascii: "*"), arguments.count, to: &bytes)
        for argument in arguments {
            appendHeader(UInt8(ascii: "$"), argument.count, to: &bytes)
            bytes.append(contentsOf: argument)
            bytes.append(contentsOf: crlf)
        }
    }

    /// Appends `kind`, `count` in decimal and CRLF: the first line of an array or bulk string.
    static func appendHeader(_ kind: UInt8, _ count: Int, to bytes: inout [UInt8]) {
        bytes.append(kind)
        bytes.append(contentsOf: String(count).utf8)
        bytes.append(contentsOf: crlf)
    }

    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// The length of the first complete reply at the start of `bytes` (nested arrays and bulk
    /// strings included), or `nil` while part of it has still to arrive. A reply of a type it does
    /// not know, or with a length that is no number, ends at its first line, so that it is still
    /// delimited and counted, as ``errorCode(_:)`` names it.
    static func frameLength(_ bytes: ArraySlice<UInt8>) -> Int? {
        frameEnd(bytes, from: bytes.startIndex).map { $0 - bytes.startIndex }
    }

    /// The integer of an integer reply (`:N` CRLF), or `nil` for any other reply.
    static func integer(_ reply: ArraySlice<UInt8>) -> Int? {
        guard reply.first == UInt8(ascii: ":"), reply.count >= 3 else { return nil }
        return number(reply.dropFirst().dropLast(2))
    }

    /// How the report names a reply that is not an integer: the first word of an error reply
    /// (`ERR`, `WRONGTYPE`, `OOM`, ...), else `unexpected`.
    static func errorCode(_ reply: ArraySlice<UInt8>) -> String {
        guard reply.first == UInt8(ascii: "-") else { return "unexpected" }
        let word = reply.dropFirst().prefix { $0 != UInt8(ascii: " ") && $0 != 0x0D && $0 != 0x0A }
        return word.isEmpty ? "ERR" : String(decoding: word, as: UTF8.self)
    }

    /// The index just past the reply that starts at `start`, or `nil` if it is incomplete.
    private static func frameEnd(_ bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        guard start < bytes.endIndex, let newline = bytes[start...].firstIndex(of: 0x0A) else { return nil }
        let lineEnd = newline + 1
        let header = bytes[(start + 1)..<max(start + 1, newline - 1)]
        switch bytes[start] {
        case UInt8(ascii: "$"):
            guard let length = number(header), length >= 0 else { return lineEnd }
            let end = lineEnd + length + 2
            return end <= bytes.endIndex ? end : nil
        case UInt8(ascii: "*"):
            guard let count = number(header), count > 0 else { return lineEnd }
            var end = lineEnd
            for _ in 0..<count {
                guard let next = frameEnd(bytes, from: end) else { return nil }
                end = next
            }
            return end
        default:
            return lineEnd
        }
    }

    /// A decimal integer with an optional minus sign, or `nil`.
    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var rest = digits
        let negative = rest.first == UInt8(ascii: "-")
        if negative { rest = rest.dropFirst() }
        guard !rest.isEmpty, rest.count <= 18 else { return nil }
        var value = 0
        for digit in rest {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }
}
