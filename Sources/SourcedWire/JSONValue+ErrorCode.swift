import SourcedJSON

extension JSONValue {
    /// The `error.code` of a failed reply, `nil` for any other value.
    public var errorCode: String? {
        self["error"]?["code"]?.stringValue
    }
}
