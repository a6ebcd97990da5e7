extension JSONEnvelope {
    /// Calls `body` with each element of the JSON array of objects in `bytes`, in order, as an
    /// envelope over that element's bytes.
    ///
    /// The whole input is checked first, as ``JSONParser`` checks it; if it is not one array of
    /// objects (and nothing else but whitespace), `body` is never called and the result is
    /// `false`: ask ``JSONParser`` or a `Decodable` for what is wrong. Allocates one range per
    /// element.
    public static func forEachElement(
        ofArray bytes: UnsafeRawBufferPointer,
        _ body: (JSONEnvelope) throws -> Void
    ) rethrows -> Bool {
        var scanner = JSONScanner(bytes)
        var elements: [Range<Int>] = []
        var allObjects = true
        do throws(JSONSyntaxError) {
            guard case .array = try scanner.beginValue() else { return false }
            try scanner.elements { scanner throws(JSONSyntaxError) in
                scanner.skipWhitespace()
                let start = scanner.offset
                let token = try scanner.beginValue()
                if case .object = token {} else { allObjects = false }
                try scanner.skip(token)
                elements.append(start..<scanner.offset)
            }
            try scanner.finish()
        } catch {
            return false
        }
        guard allObjects else { return false }
        for element in elements {
            // Checked above: scanning the element again cannot fail.
            guard let object = try? JSONEnvelope(UnsafeRawBufferPointer(rebasing: bytes[element])) else { return false }
            try body(object)
        }
        return true
    }
}
