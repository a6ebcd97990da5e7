import Foundation
import SourcedCore
import Testing

@Suite struct CounterTests {
    @Test func createThenIncrementCountsUp() throws {
        let result = try Counter.decide(chain: [.create, .increment, .increment], state: nil)
        #expect(result.events == [.created, .incremented(count: 1), .incremented(count: 2)])
        #expect(result.state == Counter.State(count: 2))
    }

    @Test func createTwiceIsRejected() {
        #expect(throws: Rejection("already created")) {
            try Counter.decide(.create, state: Counter.State(count: 0))
        }
    }

    @Test func incrementBeforeCreateIsRejected() {
        #expect(throws: Rejection("not created")) {
            try Counter.decide(.increment, state: nil)
        }
    }

    @Test func chainWithARejectionHasNoEffect() {
        #expect(throws: Rejection("already created")) {
            try Counter.decide(chain: [.create, .increment, .create], state: nil)
        }
    }
}

@Suite struct AccountTests {
    private func open(balance: Int) throws -> Account.State? {
        var state = Account.evolve(nil, with: .opened(owner: "ada"))
        if balance > 0 {
            state = Account.evolve(state, with: .deposited(amount: balance, balance: balance))
        }
        return state
    }

    @Test func depositAndWithdrawMoveTheBalance() throws {
        let result = try Account.decide(chain: [.open(owner: "ada"), .deposit(amount: 100), .withdraw(amount: 30)], state: nil)
        #expect(result.state == Account.State(owner: "ada", balance: 70, closed: false))
        #expect(result.events.last == .withdrawn(amount: 30, balance: 70))
    }

    @Test func withdrawBeyondBalanceIsRejected() throws {
        #expect(throws: Rejection("insufficient funds: balance 50, requested 51")) {
            try Account.decide(.withdraw(amount: 51), state: try open(balance: 50))
        }
    }

    @Test(arguments: [0, -5])
    func nonPositiveAmountsAreRejected(amount: Int) throws {
        let state = try open(balance: 10)
        #expect(throws: Rejection("amount must be positive")) { try Account.decide(.deposit(amount: amount), state: state) }
        #expect(throws: Rejection("amount must be positive")) { try Account.decide(.withdraw(amount: amount), state: state) }
    }

    @Test func overflowingDepositIsRejected() throws {
        #expect(throws: Rejection("balance would overflow")) {
            try Account.decide(.deposit(amount: Int.max), state: try open(balance: 1))
        }
    }

    @Test func closeNeedsZeroBalanceAndEndsEverything() throws {
        #expect(throws: Rejection("balance must be zero to close (balance 5)")) {
            try Account.decide(.close, state: try open(balance: 5))
        }
        let closed = try Account.decide(chain: [.open(owner: "ada"), .close], state: nil).state
        #expect(closed?.closed == true)
        for command in [Account.Command.deposit(amount: 1), .withdraw(amount: 1), .close] {
            #expect(throws: Rejection("account closed")) { try Account.decide(command, state: closed) }
        }
        #expect(throws: Rejection("account already open")) { try Account.decide(.open(owner: "bob"), state: closed) }
    }

    @Test func everythingNeedsAnOpenAccount() {
        for command in [Account.Command.deposit(amount: 1), .withdraw(amount: 1), .close] {
            #expect(throws: Rejection("account not open")) { try Account.decide(command, state: nil) }
        }
        #expect(throws: Rejection("owner must not be empty")) { try Account.decide(.open(owner: ""), state: nil) }
    }
}

@Suite struct ModelCatalogTests {
    @Test func builtInModelsAreFoundByName() {
        #expect(ModelCatalog.builtIn.model(named: "counter")?.type == Counter.self)
        #expect(ModelCatalog.builtIn.model(named: "account")?.type == Account.self)
        #expect(ModelCatalog.builtIn.model(named: "Counter") == nil)
        #expect(ModelCatalog.builtIn.names == ["account", "counter"])
    }

    /// Every described command decodes from a JSON object built from its description, so the
    /// descriptions clients see cannot drift from the enums.
    @Test func commandDescriptionsMatchTheCommands() throws {
        func sample(_ description: CommandDescription) -> Data {
            var object: [String: Any] = ["type": description.type]
            for (field, type) in description.fields {
                object[field] = type == "string" ? "x" : 1
            }
            return try! JSONSerialization.data(withJSONObject: object)
        }
        for description in Counter.commands {
            _ = try JSONDecoder().decode(TaggedCoding<Counter.Command>.self, from: sample(description))
        }
        for description in Account.commands {
            _ = try JSONDecoder().decode(TaggedCoding<Account.Command>.self, from: sample(description))
        }
    }
}

@Suite struct AggregateIDTests {
    @Test(arguments: ["c1", "../x", "/", ".", "a/b", "ünïcödé", String(repeating: "x", count: 128)])
    func acceptsAnyPrintableIdUpToTheLimit(raw: String) throws {
        #expect(try AggregateID(raw).rawValue == raw)
    }

    @Test(arguments: ["", "a\u{0}b", "line\nbreak", "\u{7F}", String(repeating: "x", count: 129), String(repeating: "é", count: 65)])
    func rejectsEmptyControlAndOverlongIds(raw: String) {
        #expect(throws: InvalidAggregateID.self) { try AggregateID(raw) }
    }
}

@Suite struct AggregateIDIdentityTests {
    /// Canonically equivalent spellings are different ids: their bytes, and so their files, differ.
    @Test func idsCompareAsBytes() throws {
        let precomposed = try AggregateID("caf\u{E9}")
        let decomposed = try AggregateID("cafe\u{301}")
        #expect(precomposed.rawValue == decomposed.rawValue, "String equality says equal")
        #expect(precomposed != decomposed)
        #expect(Set([precomposed, decomposed]).count == 2)
        #expect(try AggregateID("caf\u{E9}") == precomposed)
    }
}
