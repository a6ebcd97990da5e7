/// A type that reads itself from the members of a JSON object, for the hot path of request
/// parsing where `Decodable`'s generic containers cost more than the bytes.
///
/// The reader may decline (return `nil`) whenever it is not sure; the caller then decodes with
/// the type's `Decodable` conformance, which also reports what is wrong. When it does return a
/// value, it must be the value `Decodable` would have produced from the same object.
public protocol JSONReadable {
    init?(reading object: JSONEnvelope)
}
