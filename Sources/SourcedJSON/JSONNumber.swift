/// A JSON number, kept as its literal text: nothing is rounded until a reader asks for a Swift
/// type, and then it is converted once, to exactly that type.
///
/// Two numbers are equal when they denote the same value, whatever their spelling: `1`, `1.0`,
/// `10e-1` and `-0` / `0` are pairs of equal numbers; no number is compared through a `Double`,
/// so `18446744073709551616` and `18446744073709551617` differ.
public struct JSONNumber: Sendable, CustomStringConvertible {
    /// The number's JSON text, e.g. `-2.5e3`: always valid JSON number syntax.
    public let literal: String

    /// `literal` must already have been checked against the JSON grammar.
    init(checkedLiteral literal: String) {
        self.literal = literal
    }

    public init(_ value: some BinaryInteger) {
        literal = String(value)
    }

    /// The number `value` as ``JSONStreamEncoder`` writes it (`2.5`, `1e+20`, `3` for `3.0`);
    /// `nil` for infinities and NaN, which JSON cannot express.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        literal = text
    }

    public var description: String { literal }

    /// The number as a `T` if it is an integer `T` holds exactly: written as one (`42`), or with a
    /// fraction or exponent that leaves an exact integer below 2^53 in magnitude (`1.0`, `1e3`),
    /// where a `Double` holds every integer. These are the decoding rules of ``JSONNodeDecoder``.
    public func integer<T: FixedWidthInteger>(as type: T.Type) -> T? {
        if let value = T(literal, radix: 10) { return value }
        if let double = Double(literal), double.rounded() == double, double.magnitude < 0x1p53 {
            return T(exactly: double)
        }
        return nil
    }

    /// The nearest `T`, or `nil` if the number is beyond `T`'s range (`1e400` for a `Double`).
    public func floatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(as type: T.Type) -> T? {
        guard let value = T(literal), value.isFinite else { return nil }
        return value
    }
}

extension JSONNumber: Hashable {
    public static func == (lhs: JSONNumber, rhs: JSONNumber) -> Bool {
        lhs.literal == rhs.literal || lhs.canonical == rhs.canonical
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(canonical)
    }

    /// The value as sign, significant digits (no leading or trailing zeros) and the exponent of
    /// the last digit: the same for every spelling of one value. Zero is `(false, [], 0)`.
    /// Exponents are clamped at ±2^50, far beyond any number a reader could convert.
    private var canonical: Canonical {
        let bytes = Array(literal.utf8)
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index += 1 }
        var digits: [UInt8] = []
        var exponent = 0
        func isDigit(_ index: Int) -> Bool {
            index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
        }
        while isDigit(index) {
            digits.append(bytes[index])
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while isDigit(index) {
                digits.append(bytes[index])
                exponent -= 1
                index += 1
            }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            let negativeExponent = index < bytes.count && bytes[index] == UInt8(ascii: "-")
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
            var written = 0
            while isDigit(index) {
                written = min(written * 10 + Int(bytes[index] - UInt8(ascii: "0")), 1 << 50)
                index += 1
            }
            exponent += negativeExponent ? -written : written
        }
        let significant = digits.drop { $0 == UInt8(ascii: "0") }
        let trailingZeros = significant.reversed().prefix { $0 == UInt8(ascii: "0") }.count
        guard !significant.isEmpty else { return Canonical(negative: false, digits: [], exponent: 0) }
        return Canonical(negative: negative, digits: Array(significant.dropLast(trailingZeros)), exponent: exponent + trailingZeros)
    }

    private struct Canonical: Hashable {
        var negative: Bool
        var digits: [UInt8]
        var exponent: Int
    }
}

extension JSONNumber: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    public init(integerLiteral value: Int64) {
        self.init(value)
    }

    public init(floatLiteral value: Double) {
        guard let number = JSONNumber(value) else { preconditionFailure("\(value) is not a JSON number") }
        self = number
    }
}
