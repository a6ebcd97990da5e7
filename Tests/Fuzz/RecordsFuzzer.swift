// libFuzzer target: log recovery must never crash, whatever bytes a file holds: the record scan in
// both sequencings and both layouts (a zero-filled end is clean only in the global log's), the
// replay folds of both models over every record it hands out, the global payload decoder and log
// file names. Built by scripts/fuzz against the package's modules.
@testable import SourcedEngine
import SourcedCore
import SourcedStorage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecords(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    var counter = StateFold<Counter>()
    var account = StateFold<Account>()
    for sequencing in [LogScan.Sequencing.versions, .positions] {
        var handed = 0
        let scan = LogScan(bytes, sequencing: sequencing) { entry in
            handed += 1
            let payload = UnsafeRawBufferPointer(rebasing: bytes[entry.payload])
            switch sequencing {
            case .versions:
                try? counter.apply(entry.header, payload: payload)
                try? account.apply(entry.header, payload: payload)
            case .positions:
                _ = try? GlobalPayload.decode(payload)
            }
        }
        precondition(scan.validLength <= count && scan.recordCount == handed)
        if case .torn(let offset) = scan.tail { precondition(offset == scan.validLength) }
        if case .corrupt(let offset, _) = scan.tail { precondition(offset == scan.validLength) }
        if scan.tail == .clean { precondition(scan.validLength == count) }
        // The global log's layout: the same records, and a clean end only where zeros follow.
        let preallocated = LogScan(bytes, sequencing: sequencing, layout: .preallocated)
        precondition(preallocated.recordCount == scan.recordCount && preallocated.validLength == scan.validLength)
        if preallocated.tail == .clean {
            precondition(bytes[scan.validLength...].allSatisfy { $0 == 0 })
        } else {
            precondition(preallocated.tail == scan.tail)
        }
    }
    if let name = String(validating: bytes, as: UTF8.self), let id = LogFileName.id(fromFileName: name) {
        precondition(LogFileName.make(for: id) == name)
    }
    return 0
}
