/// A number of bytes as an operator writes it: `67108864`, `64MiB`, `64M`, `1.5GiB`, `500MB`.
///
/// `K`, `KiB`, `M`, `MiB`, `G`, `GiB`, `T`, `TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` powers
/// of 1000; case is ignored, and so is a space before the suffix.
enum ByteCount {
    private static let suffixes: [(String, Double)] = [
        ("kib", 0x400), ("mib", 0x10_0000), ("gib", 0x4000_0000), ("tib", 0x100_0000_0000),
        ("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("tb", 1e12),
        ("k", 0x400), ("m", 0x10_0000), ("g", 0x4000_0000), ("t", 0x100_0000_0000), ("b", 1),
    ]

    /// The bytes `text` names, or `nil` if it names none (or a negative or fractional number of bytes).
    static func parse(_ text: String) -> Int? {
        let lowered = text.lowercased().filter { $0 != " " }
        let (number, factor) = suffixes.first { lowered.hasSuffix($0.0) }.map { (String(lowered.dropLast($0.0.count)), $0.1) } ?? (lowered, 1)
        if factor == 1, let exact = Int(number) {
            return exact >= 0 ? exact : nil
        }
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        let bytes = value * factor
        guard bytes < 0x1p62, bytes == bytes.rounded() else { return nil }
        return Int(bytes)
    }
}
