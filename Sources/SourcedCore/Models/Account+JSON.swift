import SourcedJSON

// Hand-written coders of the account, for the hot path (`JSONWritable`, `JSONReadable`): each
// writes exactly what its `Codable` conformance writes, and reads what it reads or declines
// (tested in `FastCodingTests`).

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

extension Account.Command: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.writeKey("type")
        switch self {
        case .open(let owner):
            writer.write("open")
            writer.writeKey("owner")
            writer.write(owner)
        case .deposit(let amount):
            writer.write("deposit")
            writer.writeKey("amount")
            writer.write(amount)
        case .withdraw(let amount):
            writer.write("withdraw")
            writer.writeKey("amount")
            writer.write(amount)
        case .close:
            writer.write("close")
        }
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

extension Account.Event: JSONReadable {
    public init?(reading object: JSONEnvelope) {
        let type = object.field(String.self, "type")
        switch type {
        case "opened": guard let owner = object.field(String.self, "owner") else { return nil }; self = .opened(owner: owner)
        case "deposited", "withdrawn":
            guard let amount = object.field(Int.self, "amount"), let balance = object.field(Int.self, "balance") else { return nil }
            self = type == "deposited" ? .deposited(amount: amount, balance: balance) : .withdrawn(amount: amount, balance: balance)
        case "closed": self = .closed
        default: return nil
        }
    }
}

extension Account.Command: JSONReadable {
    public init?(reading object: JSONEnvelope) {
        switch object.field(String.self, "type") {
        case "open": guard let owner = object.field(String.self, "owner") else { return nil }; self = .open(owner: owner)
        case "deposit": guard let amount = object.field(Int.self, "amount") else { return nil }; self = .deposit(amount: amount)
        case "withdraw": guard let amount = object.field(Int.self, "amount") else { return nil }; self = .withdraw(amount: amount)
        case "close": self = .close
        default: return nil
        }
    }
}
