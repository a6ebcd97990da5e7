import SourcedJSON

extension JSONEnvelope {
    /// Member `name` as `type`, or `nil` where `Decodable` would throw: for the models' readers,
    /// which decline whatever they are not sure of.
    func field<T: Decodable>(_ type: T.Type, _ name: String) -> T? {
        try? decode(type, forKey: AnyCodingKey(name))
    }
}
