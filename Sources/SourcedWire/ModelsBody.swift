import SourcedCore

/// The reply body of `models`: `"models":[{"name":N,"commands":[...]},...]`, in catalog order.
public struct ModelsBody: Encodable, Sendable {
    struct Model: Encodable, Sendable {
        var name: String
        var commands: [CommandDescription]
    }

    var models: [Model]

    public init(catalog: ModelCatalog) {
        models = catalog.models.map { Model(name: $0.name, commands: $0.commands) }
    }
}
