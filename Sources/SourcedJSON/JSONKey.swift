/// A coding key with any name or position: for objects whose keys are known only at run time
/// (a dictionary of JSON values, a reply's members) and for the positions and `super` keys of
/// coding paths.
public struct JSONKey: CodingKey, Sendable {
    public var stringValue: String
    public var intValue: Int?

    public init(stringValue: String) {
        self.stringValue = stringValue
        intValue = nil
    }

    public init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }

    /// The key `superEncoder()` and `superDecoder()` use.
    public static let `super` = JSONKey(stringValue: "super")
}
