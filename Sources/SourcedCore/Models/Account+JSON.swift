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

extension Account.Command: JSONReadable {
    public init?(reading object: JSONEnvelope) {
        func field<T: Decodable>(_ type: T.Type, _ name: String) -> T? {
            try? object.decode(type, forKey: AnyCodingKey(name))
        }
        switch field(String.self, "type") {
        case "open": guard let owner = field(String.self, "owner") else { return nil }; self = .open(owner: owner)
        case "deposit": guard let amount = field(Int.self, "amount") else { return nil }; self = .deposit(amount: amount)
        case "withdraw": guard let amount = field(Int.self, "amount") else { return nil }; self = .withdraw(amount: amount)
        case "close": self = .close
        default: return nil
        }
    }
}
