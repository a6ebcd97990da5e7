import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedStorage

/// A read model of `account` balances: the total held in open accounts and the accounts above a
/// threshold, kept up to date from committed events.
///
/// Query: `{"op":"query","projection":"account-balances","above":N,"limit":L}` answers
/// `{"position":P,"total":T,"accounts":[{"id":...,"balance":...}],"matching":M}`: the accounts with
/// a balance greater than N (default 0), largest first, at most L of them (default 100), and how
/// many match in all, as of global position P.
public actor AccountBalances: QueryableProjection {
    public nonisolated let name = "account-balances"

    private struct Saved: Codable {
        var position: UInt64
        var balances: [String: Int]
    }

    private var balances: [String: Int] = [:]
    private var position: UInt64 = 0

    public init() {}

    public func restore(_ saved: [UInt8]?) throws {
        guard let saved else {
            balances = [:]
            position = 0
            return
        }
        let state = try JSONNodeDecoder().decode(Saved.self, from: saved)
        balances = state.balances
        position = state.position
    }

    public func handle(_ chain: CommittedChain) throws {
        position = chain.position
        guard chain.key.model == Account.name else { return }
        let events = try JSONNodeDecoder().decode([TaggedCoding<Account.Event>].self, from: chain.events)
        for event in events {
            switch event.value {
            case .opened:
                balances[chain.key.id.rawValue] = 0
            case .deposited(_, let balance), .withdrawn(_, let balance):
                balances[chain.key.id.rawValue] = balance
            case .closed:
                balances[chain.key.id.rawValue] = nil
            }
        }
    }

    public func save() throws -> [UInt8] {
        try JSONStreamEncoder().encode(Saved(position: position, balances: balances))
    }

    public func query(_ parameters: JSONValue) throws(ProjectionQueryError) -> JSONValue {
        let above = parameters["above"] ?? .integer(0)
        let limit = parameters["limit"] ?? .integer(100)
        guard let threshold = above.integerValue else { throw ProjectionQueryError("\"above\" must be an integer") }
        guard let count = limit.integerValue, (1...10_000).contains(count) else {
            throw ProjectionQueryError("\"limit\" must be an integer from 1 to 10000")
        }
        let matching = balances.filter { Int64($0.value) > threshold }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        return [
            "position": .integer(Int64(clamping: position)),
            "total": .integer(Int64(balances.values.reduce(0, +))),
            "matching": .integer(Int64(matching.count)),
            "accounts": .array(matching.prefix(Int(count)).map { ["id": .string($0.key), "balance": .integer(Int64($0.value))] }),
        ]
    }
}
