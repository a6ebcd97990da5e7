/// The models a daemon serves, by name: the Swift models compiled in and the programs loaded at
/// run time (``ModelProgram``, run as ``DynamicModel``).
///
/// Requests name a model by its ``Entry/name``. A catalog is a value: the engine replaces its
/// catalog as a whole when the programs are reloaded (`Engine.adopt(_:)`), never edits one.
public struct ModelCatalog: Sendable {
    /// The models shipped with Sourced. Register a new model by adding one line here.
    public static let builtIn = ModelCatalog([
        Counter.self,
        Account.self,
    ])

    /// One model of the catalog.
    public struct Entry: Sendable {
        /// The Swift type the engine runs it as: the model itself, or ``DynamicModel``.
        public let type: any AggregateModel.Type
        /// The program of a dynamic model; `nil` for a Swift model.
        public let program: (any ModelProgram)?

        public var name: String { program?.name ?? type.name }
        public var commands: [CommandDescription] { program?.commands ?? type.commands }
        public var stateVersion: Int { program?.stateVersion ?? type.stateVersion }
    }

    /// The models, in registration order: the Swift models, then the programs.
    public let models: [Entry]
    private let byName: [String: Entry]

    /// Creates a catalog of Swift models; their names must be valid (see
    /// ``AggregateModel/name``) and unique.
    public init(_ models: [any AggregateModel.Type]) {
        var byName: [String: Entry] = [:]
        for model in models {
            precondition(Self.isValidName(model.name), "invalid model name \"\(model.name)\"")
            precondition(byName.updateValue(Entry(type: model, program: nil), forKey: model.name) == nil, "model \"\(model.name)\" registered twice")
        }
        self.models = models.map { Entry(type: $0, program: nil) }
        self.byName = byName
    }

    private init(models: [Entry], byName: [String: Entry]) {
        self.models = models
        self.byName = byName
    }

    /// This catalog with `programs` added after its models.
    ///
    /// - Throws: ``ModelCatalogError`` for a program whose name is invalid or already taken.
    public func adding(_ programs: [any ModelProgram]) throws(ModelCatalogError) -> ModelCatalog {
        var models = models
        var byName = byName
        for program in programs {
            guard Self.isValidName(program.name) else { throw .invalidName(program.name) }
            let entry = Entry(type: DynamicModel.self, program: program)
            guard byName.updateValue(entry, forKey: program.name) == nil else { throw .duplicateName(program.name) }
            models.append(entry)
        }
        return ModelCatalog(models: models, byName: byName)
    }

    /// The model called `name`, if there is one.
    public func model(named name: String) -> Entry? {
        byName[name]
    }

    /// The program of the model called `name`, if it is a dynamic model.
    public func program(named name: String) -> (any ModelProgram)? {
        byName[name]?.program
    }

    /// The names of all models, sorted, for error messages.
    public var names: [String] {
        byName.keys.sorted()
    }

    /// Whether `name` may name a model: 1–64 bytes of `a`–`z`, `0`–`9`, `-` and `_`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }
}
