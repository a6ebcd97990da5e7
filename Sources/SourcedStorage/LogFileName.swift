import SourcedCore

/// Maps an aggregate id to its log's file name, one-to-one, so that no id can escape its model's
/// directory or share a file with another id.
///
/// - An id made only of ASCII letters, digits, `-`, `_` and `.` (not first) is its own name:
///   `c1` → `c1.log`. Such names cannot be `.`, `..`, hidden, or contain `/`.
/// - Any other id is `~` followed by the unpadded lowercase base32 (RFC 4648) of its UTF-8 bytes:
///   `../x` → `~fyxc66a.log`. `~` is outside the plain alphabet, so the two forms never meet, and
///   base32 is injective, so distinct ids (including Unicode look-alikes) get distinct names.
///
/// A 128-byte id encodes to at most 210 bytes, within every Linux file system's 255-byte limit.
public enum LogFileName {
    public static let suffix = ".log"
    static let encodedPrefix: UInt8 = 0x7E  // "~"
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    /// The file name of `id`'s log.
    public static func make(for id: AggregateID) -> String {
        let bytes = Array(id.rawValue.utf8)
        if isPlain(bytes) {
            return id.rawValue + suffix
        }
        var name: [UInt8] = [encodedPrefix]
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                name.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1F)])
            }
        }
        if bits > 0 {
            name.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)])
        }
        return String(decoding: name, as: UTF8.self) + suffix
    }

    /// The id whose log is called `fileName`, or `nil` if no id maps to that name.
    public static func id(fromFileName fileName: String) -> AggregateID? {
        guard fileName.hasSuffix(suffix) else { return nil }
        let stem = Array(fileName.utf8.dropLast(suffix.utf8.count))
        let bytes: [UInt8]
        if stem.first == encodedPrefix {
            guard let decoded = decode(stem.dropFirst()), !isPlain(decoded) else { return nil }
            bytes = decoded
        } else {
            guard isPlain(stem) else { return nil }
            bytes = stem
        }
        guard let string = String(validating: bytes, as: UTF8.self),
              let id = try? AggregateID(string),
              make(for: id) == fileName
        else { return nil }
        return id
    }

    private static func isPlain(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, first != 0x2E else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E: true
            default: false
            }
        }
    }

    private static func decode(_ characters: ArraySlice<UInt8>) -> [UInt8]? {
        var bytes: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in characters {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8((buffer >> UInt32(bits)) & 0xFF))
            }
        }
        return bytes
    }
}
