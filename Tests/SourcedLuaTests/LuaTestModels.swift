import Foundation
import SourcedCore
import SourcedEngine
import SourcedJSON
import SourcedLua
import SourcedStorage
import SourcedTestSupport

/// The repository's `models/` directory, programs loaded from it or from source text, and
/// engines serving them.
enum LuaTestModels {
    /// `models/` of the repository this test file is in.
    static let directory: String = {
        var path = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        path.removeLast(3)
        return path.joined(separator: "/") + "/models"
    }()

    /// Every model of `models/`.
    static let shipped: [LuaProgram] = try! LuaModelDirectory.load(directory)

    static func program(_ name: String) -> LuaProgram {
        shipped.first { $0.name == name }!
    }

    /// A program from `source`, with small limits so that hostile models fail fast.
    static func program(source: String, limits: LuaLimits = LuaLimits(memory: 4 << 20, instructions: 1_000_000)) throws -> LuaProgram {
        try LuaProgram(source: source, path: "test.lua", limits: limits)
    }

    /// A model `name` with one command, `go`, whose `decide` runs `body` (Lua, with `state` and
    /// `command` in scope) and whose `evolve` keeps the event as the state.
    static func program(named name: String, decide body: String) throws -> LuaProgram {
        try program(source: """
            return {
                name = "\(name)",
                commands = { { type = "go", summary = "Runs the test's body." } },
                decide = function(state, command) \(body) end,
                evolve = function(state, event) return event end,
            }
            """)
    }

    /// An engine on `directory` serving the built-in models and `programs`.
    static func engine(in directory: TemporaryDirectory, _ programs: [any ModelProgram], threads: Int = 1, snapshotInterval: Int = 1000) async throws -> Engine {
        try await Engine.start(Engine.Configuration(
            dataDirectory: directory.file("data"),
            models: try ModelCatalog.builtIn.adding(programs),
            snapshotInterval: snapshotInterval,
            sync: .none,
            maximumOpenFiles: 64,
            ioThreads: 4,
            threads: threads
        ))
    }

    /// A command as JSON text, as a client sends it.
    static func command(_ json: String) -> TaggedObject {
        TaggedObject(try! JSONParser.parse(Array(json.utf8)))!
    }

    /// The records of the log at `path`, each re-encoded with its commit time set to 0: the bytes
    /// a log holds apart from when its chains were committed.
    static func recordsWithoutTimes(at path: String) throws -> [[UInt8]] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        var records: [[UInt8]] = []
        _ = bytes.withUnsafeBytes { buffer in
            LogScan(buffer) { entry in
                var header = entry.header
                header.timestamp = 0
                var record: [UInt8] = []
                LogRecord.append(header, payload: Array(buffer[entry.payload]), to: &record)
                records.append(record)
            }
        }
        return records
    }
}

extension TemporaryDirectory {
    /// The log of aggregate `id` of `model` under the test engine's data directory.
    func log(_ model: String, _ id: String) -> String {
        file("data/aggregates/\(model)/\(LogFileName.make(for: try! AggregateID(id)))")
    }
}
