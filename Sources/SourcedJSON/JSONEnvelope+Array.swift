extension JSONEnvelope {
    /// Scans `bytes`, which should hold one JSON array of objects, and calls `body` with each
    /// element as soon as it is scanned, in order, until `body` returns `false`.
    ///
    /// One pass, as ``JSONParser`` checks (grammar, UTF-8, nesting), allocating one member table
    /// for all elements (if `body` keeps no envelope). An element's envelope lies in the whole of
    /// `bytes`: its ``bytes`` are the array's.
    /// - Returns: `true` if `bytes` are one array of objects (and nothing else but whitespace)
    ///   and `body` never returned `false`. When `false`, `body` may have seen some elements
    ///   first: discard what it made of them, and ask ``JSONParser`` or a `Decodable` what is wrong.
    public static func forEachElement(ofArray bytes: UnsafeRawBufferPointer, _ body: (JSONEnvelope) -> Bool) -> Bool {
        var scanner = JSONScanner(bytes)
        var table: [Member] = []
        do throws(JSONSyntaxError) {
            guard case .array = try scanner.beginValue() else { return false }
            try scanner.elements { scanner throws(JSONSyntaxError) in
                guard case .object = try scanner.beginValue() else { throw scanner.error("not an object") }
                try members(&scanner, into: &table)
                guard body(JSONEnvelope(bytes: bytes, members: table)) else { throw scanner.error("not taken") }
            }
            try scanner.finish()
            return true
        } catch {
            return false
        }
    }
}
