// libFuzzer target: the decoding a request line goes through must never crash: any JSON value
// (JSONValue), the tagged command enums of both models (TaggedCoding's adapters) and ids.
// Built by scripts/fuzz together with SourcedCore and SourcedProtocol as one module.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommands(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    let decoder = JSONDecoder()
    if let value = try? decoder.decode(JSONValue.self, from: data) {
        if let id = value["id"]?.stringValue, let valid = try? AggregateID(id) {
            precondition(valid.rawValue.utf8.count <= AggregateID.maximumByteCount)
        }
        if let command = value["command"], let encoded = try? JSONEncoder().encode(command) {
            _ = try? decoder.decode(TaggedCoding<Counter.Command>.self, from: encoded)
            _ = try? decoder.decode(TaggedCoding<Account.Command>.self, from: encoded)
        }
    }
    _ = try? decoder.decode([TaggedCoding<Account.Event>].self, from: data)
    _ = try? decoder.decode(TaggedCoding<Account.Command>.self, from: data)
    return 0
}
