import Foundation
import ArgumentParser

/// How bench picks the aggregate of each command.
enum Distribution: String, ExpressibleByArgument, CaseIterable, Codable {
    /// Every aggregate equally often.
    case uniform
    /// Aggregate k (from 1) with weight 1/k^s: a few hot aggregates, a long cold tail.
    case zipf
}

/// What bench sends.
enum BenchModel: String, ExpressibleByArgument, CaseIterable, Codable {
    /// `increment` on counters.
    case counter
    /// An atomic chain `deposit 5, withdraw 3` on accounts: two events per command.
    case account
    /// `counter`'s workload on the Lua counter of `models/counter.lua` (`--models-dir models`).
    case luaCounter = "lua-counter"
    /// `account`'s workload on the Lua account of `models/account.lua`.
    case luaAccount = "lua-account"

    /// Whether the workload is the counter's (else the account's).
    var isCounter: Bool { self == .counter || self == .luaCounter }

    /// Events one command produces.
    var eventsPerCommand: Int { isCounter ? 1 : 2 }

    /// The setup request that creates aggregate `id`, with the version it leaves.
    func create(_ id: String) -> String {
        isCounter
            ? #"{"op":"execute","model":"\#(rawValue)","id":"\#(id)","command":{"type":"create"}}"#
            : #"{"op":"execute","model":"\#(rawValue)","id":"\#(id)","commands":[{"type":"open","owner":"bench"},{"type":"deposit","amount":\#(Self.initialBalance)}]}"#
    }

    /// The measured request on aggregate `id`.
    func command(_ id: String) -> String {
        isCounter
            ? #"{"op":"execute","model":"\#(rawValue)","id":"\#(id)","command":{"type":"increment"}}"#
            : #"{"op":"execute","model":"\#(rawValue)","id":"\#(id)","commands":[{"type":"deposit","amount":5},{"type":"withdraw","amount":3}]}"#
    }

    /// Checks an aggregate's `get` reply after `acknowledged` commands (and up to `unknown` more
    /// whose outcome is unknown); returns what is wrong, or `nil`.
    func check(_ reply: [String: Int64?], acknowledged: Int64, unknown: Int64) -> String? {
        let version = reply["version"] ?? nil
        let value = reply["value"] ?? nil
        let (baseVersion, baseValue, step): (Int64, Int64, Int64) = isCounter ? (1, 0, 1) : (2, Self.initialBalance, 2)
        for extra in 0...unknown {
            let commands = acknowledged + extra
            if version == baseVersion + commands * Int64(eventsPerCommand) && value == baseValue + commands * step {
                return nil
            }
        }
        return "version \(version.map(String.init) ?? "?") and value \(value.map(String.init) ?? "?") after \(acknowledged) acknowledged commands"
    }

    static let initialBalance: Int64 = 1_000_000
}

/// Picks aggregate indexes in `0..<count` by a distribution, with a fast generator per client
/// (the system generator makes a system call per number).
struct KeyPicker {
    private var state: UInt64
    private let count: Int
    /// Cumulative weights for zipf, empty for uniform.
    private let cumulative: [Double]

    init(count: Int, distribution: Distribution, exponent: Double, seed: UInt64) {
        self.count = count
        state = seed
        switch distribution {
        case .uniform:
            cumulative = []
        case .zipf:
            var sum = 0.0
            var table = [Double]()
            table.reserveCapacity(count)
            for rank in 1...count {
                sum += 1 / pow(Double(rank), exponent)
                table.append(sum)
            }
            cumulative = table.map { $0 / sum }
        }
    }

    mutating func next() -> Int {
        let random = nextRandom()
        guard !cumulative.isEmpty else { return Int(random % UInt64(count)) }
        let target = Double(random >> 11) / Double(1 << 53)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// SplitMix64.
    private mutating func nextRandom() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
