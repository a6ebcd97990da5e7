/// A type that writes its own JSON, for the hot paths where `Encodable`'s generic containers
/// cost more than the bytes: ``JSONWriter/write(encoding:)`` and the engine's event payloads use
/// it when a value has it.
///
/// What `write(to:)` writes must be byte for byte what ``JSONStreamEncoder`` makes of the
/// value's `Encodable` conformance (tagged as ``SourcedCore``'s `TaggedCoding` where the type is
/// a command or event enum), so the two paths are interchangeable.
public protocol JSONWritable {
    func write(to writer: inout JSONWriter)
}
