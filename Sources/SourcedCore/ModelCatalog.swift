/// The models a daemon serves, by name.
///
/// A catalog is fixed when the engine starts; requests name a model by its ``AggregateModel/name``.
public struct ModelCatalog: Sendable {
    /// The models shipped with Sourced. Register a new model by adding one line here.
    public static let builtIn = ModelCatalog([
        Counter.self,
        Account.self,
    ])

    /// The models, in registration order.
    public let models: [any AggregateModel.Type]
    private let byName: [String: any AggregateModel.Type]

    /// Creates a catalog; model names must be valid (see ``AggregateModel/name``) and unique.
    public init(_ models: [any AggregateModel.Type]) {
        var byName: [String: any AggregateModel.Type] = [:]
        for model in models {
            precondition(Self.isValidName(model.name), "invalid model name \"\(model.name)\"")
            precondition(byName.updateValue(model, forKey: model.name) == nil, "model \"\(model.name)\" registered twice")
        }
        self.models = models
        self.byName = byName
    }

    /// The model called `name`, if there is one.
    public func model(named name: String) -> (any AggregateModel.Type)? {
        byName[name]
    }

    /// The names of all models, sorted, for error messages.
    public var names: [String] {
        byName.keys.sorted()
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }
}
