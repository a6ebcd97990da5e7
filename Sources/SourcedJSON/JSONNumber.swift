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

    /// The number as a `T` if its exact value is an integer `T` holds: written as one (`42`), or
    /// with a fraction or exponent that leaves one (`1.0`, `1e3`), judged on the digits as
    /// written, never through a `Double` (`10.00000000000000000001` is no integer). These are
    /// the decoding rules of ``JSONNodeDecoder``; ``isIntegral`` tells the two failures apart.
    public func integer<T: FixedWidthInteger>(as type: T.Type) -> T? {
        if let value = T(literal, radix: 10) { return value }
        let value = canonical
        guard value.exponent >= 0, value.digits.count + value.exponent <= 40 else { return nil }
        let digits = String(decoding: value.digits, as: UTF8.self) + String(repeating: "0", count: value.digits.isEmpty ? 0 : value.exponent)
        return T((value.negative ? "-" : "") + (digits.isEmpty ? "0" : digits), radix: 10)
    }

    /// Whether the exact value is an integer, in any range.
    public var isIntegral: Bool {
        canonical.exponent >= 0
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
