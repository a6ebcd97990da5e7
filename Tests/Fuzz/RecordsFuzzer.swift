// libFuzzer target: log recovery must never crash, whatever bytes a file holds.
// Built by scripts/fuzz together with SourcedCore and the storage record code as one module.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecords(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    for sequencing in [LogScan.Sequencing.versions, .positions] {
        var handed = 0
        let scan = LogScan(bytes, sequencing: sequencing) { entry in
            handed += 1
            _ = try? GlobalPayload.decode(UnsafeRawBufferPointer(rebasing: bytes[entry.payload]))
        }
        precondition(scan.validLength <= count && scan.recordCount == handed)
        if case .torn(let offset) = scan.tail { precondition(offset == scan.validLength) }
        if case .corrupt(let offset, _) = scan.tail { precondition(offset == scan.validLength) }
    }
    if let name = String(validating: bytes, as: UTF8.self), let id = LogFileName.id(fromFileName: name) {
        precondition(LogFileName.make(for: id) == name)
    }
    return 0
}
