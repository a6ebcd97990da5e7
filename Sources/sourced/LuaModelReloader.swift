import Logging
import NIOPosix
import SourcedCore
import SourcedEngine
import SourcedLua
import SourcedServer
import Synchronization

/// Loads the Lua models of `--models-dir` again for a running engine: what `sourcectl models
/// reload` and SIGHUP run.
///
/// All or nothing: the new catalog is served only if every file loads and no name is taken
/// twice; otherwise the engine keeps the catalog it serves. A file whose source did not change
/// keeps its program (``LuaModelDirectory/load(_:limits:reusing:)``), so only the models whose
/// files changed have their live aggregates reloaded. Reloads run one at a time, in the order
/// they were asked for.
final class LuaModelReloader: ModelReloader {
    let directory: String
    private let engine: Engine
    private let logger: Logger
    /// The reload asked for last: the next one starts once it has ended.
    private let last = Mutex<Task<Void, Never>?>(nil)

    init(directory: String, engine: Engine, logger: Logger) {
        self.directory = directory
        self.engine = engine
        self.logger = logger
    }

    /// The built-in models and the Lua models of `directory`, reusing the programs of `previous`
    /// whose files did not change.
    ///
    /// - Throws: ``ModelReloadError/refused(reason:)`` naming the file that does not load, or the
    ///   files (or built-in model) that claim the same name.
    static func catalog(of directory: String, reusing previous: [LuaProgram] = []) throws(ModelReloadError) -> ModelCatalog {
        let programs: [LuaProgram]
        do throws(LuaModelError) {
            programs = try LuaModelDirectory.load(directory, reusing: previous)
        } catch {
            throw .refused(reason: error.description)
        }
        do throws(ModelCatalogError) {
            return try ModelCatalog.builtIn.adding(programs)
        } catch {
            guard case .duplicateName(let name) = error else { throw .refused(reason: error.description) }
            var claims = programs.filter { $0.name == name }.map(\.path)
            if ModelCatalog.builtIn.model(named: name) != nil {
                claims.insert("the built-in model", at: 0)
            }
            throw .refused(reason: "\(error) (claimed by \(claims.joined(separator: " and ")))")
        }
    }

    func reloadModels() async throws(ModelReloadError) -> ModelChanges {
        let reload = last.withLock { last in
            let previous = last
            let reload = Task { () -> Result<ModelChanges, ModelReloadError> in
                await previous?.value
                return await self.reloadNow()
            }
            last = Task { _ = await reload.value }
            return reload
        }
        return try await reload.value.get()
    }

    private func reloadNow() async -> Result<ModelChanges, ModelReloadError> {
        let previous = engine.models.models.compactMap { $0.program as? LuaProgram }
        let directory = directory
        let loaded: Result<ModelCatalog, ModelReloadError>
        do {
            // Reading and compiling the files is blocking work: not on the caller's executor.
            loaded = try await NIOThreadPool.singleton.runIfActive { () -> Result<ModelCatalog, ModelReloadError> in
                do throws(ModelReloadError) {
                    return .success(try Self.catalog(of: directory, reusing: previous))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            return .failure(.shuttingDown)
        }
        switch loaded {
        case .success(let catalog):
            let changes: ModelChanges
            do throws(EngineError) {
                changes = try await engine.adopt(catalog)
            } catch {
                logger.error("models not reloaded; the models loaded before are served still", metadata: [
                    "directory": "\(directory)", "error": "\(error)",
                ])
                return .failure(.refused(reason: error.description))
            }
            logger.notice("models reloaded: \(changes)", metadata: ["directory": "\(directory)"])
            return .success(changes)
        case .failure(let error):
            logger.error("models not reloaded; the models loaded before are served still", metadata: [
                "directory": "\(directory)", "error": "\(error)",
            ])
            return .failure(error)
        }
    }
}
