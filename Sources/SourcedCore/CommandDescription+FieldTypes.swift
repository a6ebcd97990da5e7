import SourcedJSON

extension CommandDescription {
    /// The JSON types a field may declare.
    public static let fieldTypes: Set<String> = ["string", "integer", "boolean", "number"]

    /// Whether `value` is of the JSON field type `type` (one of ``fieldTypes``): `"integer"` is a
    /// number whose value is whole and fits 64 bits, as a Swift `Int` field decodes it; `"number"`
    /// is any number.
    public static func value(_ value: JSONValue, hasType type: String) -> Bool {
        switch (type, value) {
        case ("string", .string), ("boolean", .bool), ("number", .number): true
        case ("integer", .number(let number)): number.integer(as: Int64.self) != nil
        default: false
        }
    }
}
