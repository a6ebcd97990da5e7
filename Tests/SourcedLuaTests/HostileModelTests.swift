import Foundation
import SourcedCore
import SourcedEngine
import SourcedLua
import SourcedTestSupport
import Testing

/// Hostile Lua models inside a running engine: each request to one is answered with
/// `modelFailed` in bounded time, nothing is written for it, and the built-in counter on the
/// same shard (one event loop) goes on being served meanwhile.
@Suite struct HostileModelTests {
    @Test(arguments: [
        ("while true do end", "instruction budget"),
        ("local t = {} while true do t[#t + 1] = string.rep('x', 1000) .. #t end", "memory limit"),
        ("error('boom')", "boom"),
        ("return 42", "must return a list of events"),
        ("return os.time()", "no global 'os'"),
    ])
    func hostileModelFailsAloneAndInBoundedTime(_ decide: String, _ message: String) async throws {
        let directory = TemporaryDirectory("lua-hostile")
        let engine = try await LuaTestModels.engine(in: directory, [try LuaTestModels.program(named: "hostile", decide: decide)])
        _ = try await engine.execute(Counter.self, id: try AggregateID("c"), commands: [.create])
        let (hostileID, counterID) = (try AggregateID("h"), try AggregateID("c"))
        let started = ContinuousClock.now
        let (failure, served) = await withTaskGroup(of: (EngineError?, Int).self) { group in
            // Two hostile requests, each on a fresh machine after the first spoiled its own.
            for _ in 0..<2 {
                group.addTask {
                    do throws(EngineError) {
                        _ = try await engine.execute(DynamicModel.self, id: hostileID, commands: [LuaTestModels.command(#"{"type":"go"}"#)], named: "hostile")
                        return (nil, 0)
                    } catch {
                        return (error, 0)
                    }
                }
            }
            group.addTask {
                var served = 0
                for _ in 0..<50 {
                    if (try? await engine.execute(Counter.self, id: counterID, commands: [.increment])) != nil { served += 1 }
                }
                return (nil, served)
            }
            var failures: [EngineError] = []
            var served = 0
            for await (error, count) in group {
                if let error { failures.append(error) }
                served += count
            }
            return (failures, served)
        }
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(served == 50)
        #expect(failure.count == 2)
        for error in failure {
            guard case .modelFailed(let reason) = error else {
                Issue.record("expected modelFailed, got \(error)")
                continue
            }
            #expect(reason.hasPrefix("model \"hostile\": decide: ") && reason.contains(message), "\(reason)")
        }
        let hostile = try await engine.snapshot(DynamicModel.self, id: try AggregateID("h"), named: "hostile")
        #expect(hostile.version == 0 && hostile.state == nil)
        await engine.shutdown()
        #expect(!FileManager.default.fileExists(atPath: directory.log("hostile", "h")))
    }

    /// A log whose events the model's `evolve` now fails on: every request to the aggregate is
    /// answered `modelFailed`, the log is left as it was, and the fixed model loads it again.
    @Test func evolveThatFailsWhileLoadingLeavesTheLogAlone() async throws {
        let directory = TemporaryDirectory("lua-hostile")
        let id = try AggregateID("a1")
        let good = LuaTestModels.program("lua-account")
        var engine = try await LuaTestModels.engine(in: directory, [good])
        let commands = [#"{"type":"open","owner":"ann"}"#, #"{"type":"deposit","amount":10}"#].map(LuaTestModels.command)
        _ = try await engine.execute(DynamicModel.self, id: id, commands: commands, named: "lua-account")
        await engine.shutdown()
        let log = try Data(contentsOf: URL(fileURLWithPath: directory.log("lua-account", "a1")))

        let broken = try LuaTestModels.program(source: """
            return {
                name = "lua-account",
                commands = { { type = "deposit", fields = { amount = "integer" }, summary = "Adds." } },
                decide = function(state, command) return {} end,
                evolve = function(state, event)
                    if event.type == "deposited" then error("cannot fold " .. event.type) end
                    return { balance = 0 }
                end,
            }
            """)
        engine = try await LuaTestModels.engine(in: directory, [broken])
        for _ in 0..<2 {
            do {
                _ = try await engine.execute(DynamicModel.self, id: id, commands: [LuaTestModels.command(#"{"type":"deposit","amount":1}"#)], named: "lua-account")
                Issue.record("a broken evolve loaded the aggregate")
            } catch {
                guard case .modelFailed(let reason) = error else { throw error }
                #expect(reason.contains("evolve: ") && reason.contains("cannot fold deposited"), "\(reason)")
            }
        }
        await engine.shutdown()
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory.log("lua-account", "a1"))) == log)

        engine = try await LuaTestModels.engine(in: directory, [good])
        let snapshot = try await engine.snapshot(DynamicModel.self, id: id, named: "lua-account")
        await engine.shutdown()
        #expect(snapshot.version == 2)
        #expect(snapshot.state?["balance"] == .integer(10))
    }
}
