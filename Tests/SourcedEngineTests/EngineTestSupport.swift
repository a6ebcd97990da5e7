import Foundation
import SourcedCore
import SourcedEngine
import SourcedStorage
import SourcedTestSupport

extension Engine {
    /// An engine on `directory` with small, test-friendly defaults.
    static func start(
        in directory: TemporaryDirectory,
        maximumAggregates: Int = 1000,
        maximumMemory: Int? = nil,
        snapshotInterval: Int = 1000,
        idleTimeout: Duration = .seconds(60),
        systemCalls: SystemCalls = .posix,
        segmentSize: Int = AggregateStore.Configuration.defaultGlobalSegmentSize,
        retention: Int? = nil,
        commandWindow: Int = 32
    ) async throws -> Engine {
        try await Engine.start(
            Configuration(
                dataDirectory: directory.file("data"),
                maximumAggregates: maximumAggregates,
                maximumMemory: maximumMemory,
                snapshotInterval: snapshotInterval,
                idleTimeout: idleTimeout,
                maximumOpenFiles: 64,
                ioThreads: 8,
                systemCalls: systemCalls,
                globalSegmentSize: segmentSize,
                globalRetentionBytes: retention,
                commandWindow: commandWindow
            )
        )
    }
}

func id(_ raw: String) -> AggregateID {
    try! AggregateID(raw)
}

/// The path of a counter's or account's log under the test engine's data directory.
func logPath(_ directory: TemporaryDirectory, _ model: String, _ raw: String) -> String {
    directory.file("data/aggregates/\(model)/\(LogFileName.make(for: id(raw)))")
}

/// Every record of the log at `path`, decoded as `Model`'s events, with the first version of each.
func records<Model: AggregateModel>(_ model: Model.Type, at path: String) throws -> [(version: UInt64, events: [Model.Event])] {
    let bytes = try contents(of: path)
    var result: [(UInt64, [Model.Event])] = []
    let scan = try bytes.withUnsafeBytes { buffer in
        try LogScan(buffer) { entry in
            let payload = Data(buffer[entry.payload])
            let events = try JSONDecoder().decode([TaggedCoding<Model.Event>].self, from: payload).map(\.value)
            result.append((entry.header.firstVersion, events))
        }
    }
    precondition(scan.tail == .clean, "log \(path) ends \(scan.tail)")
    return result
}
