/// A bank account: money in and out in whole minor units, never below zero, closed only when empty.
public enum Account: AggregateModel {
    public struct State: Codable, Sendable, Equatable {
        public var owner: String
        public var balance: Int
        public var closed: Bool

        public init(owner: String, balance: Int, closed: Bool) {
            self.owner = owner
            self.balance = balance
            self.closed = closed
        }
    }

    public enum Command: Codable, Sendable, Equatable {
        case open(owner: String)
        case deposit(amount: Int)
        case withdraw(amount: Int)
        case close
    }

    public enum Event: Codable, Sendable, Equatable {
        case opened(owner: String)
        /// Carries the balance after the deposit.
        case deposited(amount: Int, balance: Int)
        /// Carries the balance after the withdrawal.
        case withdrawn(amount: Int, balance: Int)
        case closed
    }

    public static let name = "account"

    public static let commands = [
        CommandDescription("open", fields: ["owner": "string"], summary: "Opens the account for an owner."),
        CommandDescription("deposit", fields: ["amount": "integer"], summary: "Adds a positive amount."),
        CommandDescription(
            "withdraw",
            fields: ["amount": "integer"],
            summary: "Takes a positive amount; rejected when funds are insufficient."
        ),
        CommandDescription("close", summary: "Closes the account; only at zero balance. Nothing works after."),
    ]

    public static func decide(_ command: Command, state: State?) throws(Rejection) -> [Event] {
        switch command {
        case .open(let owner):
            guard state == nil else { throw Rejection("account already open") }
            guard !owner.isEmpty else { throw Rejection("owner must not be empty") }
            return [.opened(owner: owner)]
        case .deposit(let amount):
            let state = try active(state)
            try requirePositive(amount)
            let (balance, overflow) = state.balance.addingReportingOverflow(amount)
            guard !overflow else { throw Rejection("balance would overflow") }
            return [.deposited(amount: amount, balance: balance)]
        case .withdraw(let amount):
            let state = try active(state)
            try requirePositive(amount)
            guard amount <= state.balance else {
                throw Rejection("insufficient funds: balance \(state.balance), requested \(amount)")
            }
            return [.withdrawn(amount: amount, balance: state.balance - amount)]
        case .close:
            let state = try active(state)
            guard state.balance == 0 else {
                throw Rejection("balance must be zero to close (balance \(state.balance))")
            }
            return [.closed]
        }
    }

    private static func active(_ state: State?) throws(Rejection) -> State {
        guard let state else { throw Rejection("account not open") }
        guard !state.closed else { throw Rejection("account closed") }
        return state
    }

    private static func requirePositive(_ amount: Int) throws(Rejection) {
        guard amount > 0 else { throw Rejection("amount must be positive") }
    }

    public static func evolve(_ state: State?, with event: Event) -> State {
        var state = state ?? State(owner: "", balance: 0, closed: false)
        switch event {
        case .opened(let owner): state.owner = owner
        case .deposited(_, let balance), .withdrawn(_, let balance): state.balance = balance
        case .closed: state.closed = true
        }
        return state
    }
}
