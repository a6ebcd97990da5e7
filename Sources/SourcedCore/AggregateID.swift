import Glibc

/// The identity of one aggregate within its model, as clients name it (`"c1"`, an email, a UUID).
///
/// Any valid id is safe to use as-is: the storage layer maps each id to exactly one file name inside
/// the data directory, so ids like `"../x"` or `"."` are ordinary ids, not paths. Validation only
/// bounds what no real id needs: emptiness, control characters and unbounded length.
///
/// Two ids are the same id only if their UTF-8 bytes are equal. Swift's `String` equality would
/// make `"café"` written with a precomposed `é` equal to the one with `e` + combining accent, while
/// their bytes, and so their file names, differ; ids compare as bytes so that an id is always one
/// aggregate and one file.
public struct AggregateID: Hashable, Sendable, CustomStringConvertible {
    /// The longest id accepted, in UTF-8 bytes.
    public static let maximumByteCount = 128

    /// The id as the client sent it.
    public let rawValue: String

    /// Validates `rawValue`.
    /// - Throws: ``InvalidAggregateID`` saying what is wrong with it.
    public init(_ rawValue: String) throws(InvalidAggregateID) {
        let byteCount = rawValue.utf8.count
        guard byteCount > 0 else { throw InvalidAggregateID("id must not be empty") }
        guard byteCount <= Self.maximumByteCount else {
            throw InvalidAggregateID("id is \(byteCount) bytes; at most \(Self.maximumByteCount) are allowed")
        }
        var native = rawValue
        // Native UTF-8 storage, so that comparing and hashing (every registry lookup) read the
        // bytes in place.
        native.makeContiguousUTF8()
        // Printable ASCII, the usual id, needs no look-up of Unicode properties.
        let printableASCII = native.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { (0x20..<0x7F).contains($0) }
        } ?? false
        guard printableASCII || !native.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw InvalidAggregateID("id must not contain control characters")
        }
        self.rawValue = native
    }

    public var description: String { rawValue }

    public static func == (lhs: AggregateID, rhs: AggregateID) -> Bool {
        let equal = lhs.rawValue.utf8.withContiguousStorageIfAvailable { left in
            rhs.rawValue.utf8.withContiguousStorageIfAvailable { right in
                left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
        return (equal ?? nil) ?? lhs.rawValue.utf8.elementsEqual(rhs.rawValue.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var id = rawValue
        id.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// Why a string is not a valid ``AggregateID``.
public struct InvalidAggregateID: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
