import SourcedJSON

// Hand-written coders of the account, for the hot path (`JSONWritable`); each writes exactly
// what its `Codable` conformance writes (tested in `FastCodingTests`).

extension Account.State: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.writeKey("owner")
        writer.write(owner)
        writer.writeKey("balance")
        writer.write(balance)
        writer.writeKey("closed")
        writer.write(closed)
        writer.endObject()
    }
}

extension Account.Event: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.writeKey("type")
        switch self {
        case .opened(let owner):
            writer.write("opened")
            writer.writeKey("owner")
            writer.write(owner)
        case .deposited(let amount, let balance), .withdrawn(let amount, let balance):
            writer.write(self.isDeposit ? "deposited" : "withdrawn")
            writer.writeKey("amount")
            writer.write(amount)
            writer.writeKey("balance")
            writer.write(balance)
        case .closed:
            writer.write("closed")
        }
        writer.endObject()
    }

    private var isDeposit: Bool {
        if case .deposited = self { return true }
        return false
    }
}
