import Benchmark
import Foundation
import SourcedCore
import SourcedJSON
import SourcedStorage

/// 1. Record encoding and decoding: the CPU cost of a log record, without any I/O.
func registerRecordBenchmarks() {
    // CPU only: a thousand records per scaled iteration, so the figures are per record.
    let perRecord = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(2)
    )
    let event = Counter.Event.incremented(count: 123_456)
    let payload = try! Fixtures.enginePayload([event])
    let header = LogRecordHeader(payloadLength: payload.count, eventCount: 1, firstVersion: 123_457, position: 987_654, timestamp: 1_700_000_000_000_000)

    Benchmark(
        "Record: encode one counter event record (LogRecord.append)",
        configuration: perRecord
    ) { benchmark in
        var buffer: [UInt8] = []
        buffer.reserveCapacity(LogRecord.headerSize + payload.count)
        for _ in benchmark.scaledIterations {
            buffer.removeAll(keepingCapacity: true)
            LogRecord.append(header, payload: payload, to: &buffer)
            blackHole(buffer)
        }
    }

    Benchmark(
        "Record: encode events to JSON + record, as a command does",
        configuration: perRecord
    ) { benchmark in
        var buffer: [UInt8] = []
        for index in benchmark.scaledIterations {
            // EventPayload.encode (internal to SourcedEngine) is exactly this encoder and input.
            let json = try Fixtures.enginePayload([.incremented(count: index)])
            buffer.removeAll(keepingCapacity: true)
            LogRecord.append(
                LogRecordHeader(payloadLength: json.count, eventCount: 1, firstVersion: UInt64(index + 1), timestamp: 1_700_000_000_000_000),
                payload: json,
                to: &buffer
            )
            blackHole(buffer)
        }
    }

    // A log of N records as the engine writes them, one event per record. N equals the scaling
    // factor, so the figures of the two benchmarks below are per record.
    let recordCount = 1_000
    var log: [UInt8] = []
    for version in 1...UInt64(recordCount) {
        let payload = Fixtures.counterPayload(version: version)
        LogRecord.append(
            LogRecordHeader(payloadLength: payload.count, eventCount: 1, firstVersion: version, position: version, timestamp: 1_700_000_000_000_000),
            payload: payload,
            to: &log
        )
    }
    let logBytes = log

    // Where a replay's time goes: the JSON decoding of one event, with the engine's decoder (as
    // StateFold does) and, for comparison, with Foundation's, which the engine used before.
    let eventPayload = Fixtures.counterPayload(version: 123_457)
    Benchmark(
        "Record: JSON-decode one event payload, JSONNodeDecoder (as StateFold)",
        configuration: perRecord
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSONNodeDecoder().decode([TaggedCoding<Counter.Event>].self, from: eventPayload))
        }
    }

    Benchmark(
        "Record: JSON-decode one event payload, Foundation JSONDecoder (before SourcedJSON)",
        configuration: perRecord
    ) { benchmark in
        let data = Data(eventPayload)
        for _ in benchmark.scaledIterations {
            blackHole(try JSONDecoder().decode([TaggedCoding<Counter.Event>].self, from: data))
        }
    }

    Benchmark(
        "Record: verify a log of 1,000 records (LogScan: headers, CRC-32C, versions), per record",
        configuration: perRecord
    ) { benchmark in
        let scan = logBytes.withUnsafeBytes { LogScan($0) }
        precondition(scan.tail == .clean && scan.version == UInt64(recordCount))
        blackHole(scan)
    }

    Benchmark(
        "Record: replay a log of 1,000 records in memory (LogScan + JSON decode + evolve, as StateFold), per record",
        configuration: .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal],
            timeUnits: .nanoseconds,
            scalingFactor: .kilo,
            maxDuration: .seconds(3)
        )
    ) { benchmark in
        var state: Counter.State?
        let scan = try logBytes.withUnsafeBytes { buffer in
            try LogScan(buffer) { entry in
                // StateFold.apply / EventPayload.decode (internal to SourcedEngine), verbatim.
                let events = try JSONNodeDecoder().decode(
                    [TaggedCoding<Counter.Event>].self,
                    from: UnsafeRawBufferPointer(rebasing: buffer[entry.payload])
                ).map(\.value)
                guard events.count == entry.header.eventCount else { throw BenchmarkFailure("event count mismatch") }
                for event in events {
                    state = Counter.evolve(state, with: event)
                }
            }
        }
        precondition(scan.tail == .clean && state?.count == recordCount - 1)
        blackHole(state)
    }
}
