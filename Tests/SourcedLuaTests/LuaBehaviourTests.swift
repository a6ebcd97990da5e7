import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedLua
import SourcedTestSupport
import Testing

/// The shipped `lua-counter` and `lua-account` against the built-in Swift `counter` and
/// `account`: the same chains get the same events (the same bytes) or the same rejections, the
/// logs hold the same records, and a reload rebuilds the same state.
@Suite struct LuaBehaviourTests {
    /// What one chain came to, comparable across models.
    enum Outcome: Equatable {
        case committed(version: UInt64, events: [UInt8])
        case failed(String)
    }

    static let counterScript = [
        [#"{"type":"increment"}"#],
        [#"{"type":"create"}"#, #"{"type":"increment"}"#, #"{"type":"increment"}"#],
        [#"{"type":"create"}"#],
        [#"{"type":"increment"}"#],
        [#"{"type":"increment"}"#, #"{"type":"create"}"#],
        [#"{"type":"increment"}"#],
    ]

    static let accountScript = [
        [#"{"type":"deposit","amount":5}"#],
        [#"{"type":"open","owner":""}"#],
        [#"{"type":"open","owner":"ann"}"#, #"{"type":"deposit","amount":10}"#],
        [#"{"type":"open","owner":"bob"}"#],
        [#"{"type":"withdraw","amount":11}"#],
        [#"{"type":"deposit","amount":0}"#],
        [#"{"type":"withdraw","amount":-1}"#],
        [#"{"type":"deposit","amount":9223372036854775800}"#],
        [#"{"type":"withdraw","amount":4}"#, #"{"type":"deposit","amount":1}"#],
        [#"{"type":"close"}"#],
        [#"{"type":"withdraw","amount":7}"#, #"{"type":"close"}"#],
        [#"{"type":"deposit","amount":1}"#],
        [#"{"type":"close"}"#],
    ]

    @Test func luaCounterBehavesAsTheSwiftCounter() async throws {
        try await compare(Counter.self, "counter", with: "lua-counter", Self.counterScript)
    }

    @Test func luaAccountBehavesAsTheSwiftAccount() async throws {
        try await compare(Account.self, "account", with: "lua-account", Self.accountScript)
    }

    /// Runs `script` (chains of commands as JSON) on aggregate `a1` of the Swift model and of the
    /// Lua model, in two data directories, and compares outcomes, logs and reloaded states.
    private func compare<Model: AggregateModel>(
        _ model: Model.Type, _ swiftName: String, with luaName: String, _ script: [[String]]
    ) async throws where Model.State: Encodable {
        let swiftDirectory = TemporaryDirectory("lua-behaviour")
        let luaDirectory = TemporaryDirectory("lua-behaviour")
        let program = LuaTestModels.program(luaName)
        let id = try AggregateID("a1")

        let swiftEngine = try await LuaTestModels.engine(in: swiftDirectory, [])
        let luaEngine = try await LuaTestModels.engine(in: luaDirectory, [program], snapshotInterval: 2)
        for chain in script {
            let swiftCommands = try chain.map { try JSONNodeDecoder().decode(TaggedCoding<Model.Command>.self, from: Array($0.utf8)).value }
            let swiftOutcome: Outcome
            do {
                let commit = try await swiftEngine.execute(Model.self, id: id, commands: swiftCommands)
                swiftOutcome = .committed(version: commit.version, events: commit.encodedEvents)
            } catch {
                swiftOutcome = .failed("\(error)")
            }
            let luaOutcome: Outcome
            do {
                let commit = try await luaEngine.execute(DynamicModel.self, id: id, commands: chain.map(LuaTestModels.command), named: luaName)
                luaOutcome = .committed(version: commit.version, events: commit.encodedEvents)
            } catch {
                luaOutcome = .failed("\(error)")
            }
            #expect(luaOutcome == swiftOutcome, "chain \(chain)")
        }
        let swiftState = try await swiftEngine.snapshot(Model.self, id: id)
        let luaState = try await luaEngine.snapshot(DynamicModel.self, id: id, named: luaName)
        await swiftEngine.shutdown()
        await luaEngine.shutdown()

        let swiftRecords = try LuaTestModels.recordsWithoutTimes(at: swiftDirectory.log(swiftName, "a1"))
        let luaRecords = try LuaTestModels.recordsWithoutTimes(at: luaDirectory.log(luaName, "a1"))
        #expect(!luaRecords.isEmpty)
        #expect(luaRecords == swiftRecords)

        // The Lua state is the Swift state's JSON, its keys in byte order; a reload replays it.
        let expected = try JSONParser.parse(JSONStreamEncoder().encode(swiftState.state))
        #expect(luaState.version == swiftState.version)
        #expect(luaState.state == expected)
        let reloaded = try await LuaTestModels.engine(in: luaDirectory, [program])
        let replayed = try await reloaded.snapshot(DynamicModel.self, id: id, named: luaName)
        await reloaded.shutdown()
        #expect(replayed.version == luaState.version)
        #expect(replayed.state == expected)
    }
}
