import Logging
import NIOPosix
import SourcedEngine
import SourcedServer
import SourcedSystemd

extension Daemon {
    /// Reloads the configuration, then the models of the models directory if there is one
    /// (`models`), on each SIGHUP in `hangUps`, one at a time, telling systemd (`RELOADING=1`,
    /// then `READY=1`), until `hangUps` ends; returns the settings then in force.
    func reloadOnHangUp(
        _ hangUps: AsyncStream<Void>, engine: Engine, server: UnixSocketServer, models: LuaModelReloader?, listening: String
    ) async -> DaemonSettings {
        var running = settings
        for await _ in hangUps {
            SystemdNotifier.reloading()
            var outcome: String
            (running, outcome) = await reload(running, engine: engine, server: server)
            if let models {
                do throws(ModelReloadError) {
                    outcome += "; models reloaded: \(try await models.reloadModels())"
                } catch {
                    outcome += "; models not reloaded"
                }
            }
            SystemdNotifier.ready(status: "serving on \(listening); \(outcome)")
        }
        return running
    }

    /// Reads the settings again and applies, all or nothing, those that differ from `running`
    /// and can change while the daemon runs; logs one line per changed setting, and a change
    /// that needs a restart is logged and not applied. A file that cannot be read, parsed or
    /// validated changes nothing. Returns the settings now in force and the outcome in words.
    func reload(_ running: DaemonSettings, engine: Engine, server: UnixSocketServer) async -> (DaemonSettings, String) {
        guard let path = source.configurationPath else {
            logger.notice("SIGHUP: no configuration file (--config or SOURCED_CONFIG); nothing to reload")
            return (running, "nothing to reload")
        }
        let read: DaemonSettings
        do {
            // Reading the file blocks: not on the cooperative pool.
            let source = source
            read = try await NIOThreadPool.singleton.runIfActive { try source.load() }
        } catch {
            logger.error("configuration not reloaded; the running configuration stays", metadata: ["error": "\(error)"])
            return (running, "reload refused: \(error)")
        }
        // What the reload says is logged at the more verbose of the two levels, so that neither
        // raising nor lowering the level hides it.
        logLevel.level = min(running.logLevel, read.logLevel)
        read.warnOfOverriddenKeys(logger)
        var adopted = running
        var needRestart = 0
        let changes = running.changes(to: read)
        for change in changes {
            if change.field.reloadable {
                logger.notice("reloaded \(change.field.name): \(change.old) → \(change.new)")
                change.field.adopt(&adopted, read)
            } else {
                logger.warning("\(change.field.name) needs a restart to change: \(change.old) → \(change.new) not applied")
                needRestart += 1
            }
        }
        let outcome = "configuration reloaded: \(changes.count - needRestart) changed, \(needRestart) need a restart"
        logger.notice("configuration reloaded", metadata: [
            "file": "\(path)", "changed": "\(changes.count - needRestart)", "need_restart": "\(needRestart)",
        ])
        logLevel.level = adopted.logLevel
        server.reconfigure(adopted.server)
        if adopted.idleTimeout != running.idleTimeout {
            engine.setIdleTimeout(adopted.idleTimeout)
        }
        return (adopted, outcome)
    }
}
