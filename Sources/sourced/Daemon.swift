import Dispatch
import Glibc
import Logging
import NIOPosix
import SourcedBuildInfo
import SourcedCore
import SourcedEngine
import SourcedLua
import SourcedProjections
import SourcedServer
import SourcedStorage
import SourcedSystemd

/// The daemon's lifecycle: open the engine, listen, tell systemd, serve, and shut down cleanly.
struct Daemon {
    enum Outcome {
        case success
        case failure(String)
    }

    /// The settings at start; a reload replaces those it can (``reload(_:engine:server:)``).
    var settings: DaemonSettings
    var source: SettingsSource
    /// The level every logger follows, changed by a reload.
    var logLevel: SharedLogLevel
    var inheritedSocket: Int32?
    var logger: Logger

    /// Log files kept open by default: enough that a working set of this many aggregates never
    /// reopens its logs.
    static let defaultMaximumOpenFiles = 32768

    /// Raises the soft open-file limit to the hard one and returns it.
    static func raiseOpenFileLimit() -> Int {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(resource, &limit)
            _ = getrlimit(resource, &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// Descriptors that are neither logs nor connections: the data directory's, the event loops',
    /// the I/O threads' overshoot of the log cache (one each), handler files and a reserve.
    func otherDescriptors() -> Int {
        128 + settings.ioThreads + 2 * sysconf(Int32(_SC_NPROCESSORS_ONLN))
    }

    /// How many log files to keep open: `--max-open-files` if given (with a warning if the limit
    /// cannot hold it), else what fits beside the connections, up to ``defaultMaximumOpenFiles``.
    func openFileBudget() -> Int {
        let limit = Self.raiseOpenFileLimit()
        let available = limit - settings.server.maximumConnections - otherDescriptors()
        guard let requested = settings.maximumOpenFiles else {
            return min(Self.defaultMaximumOpenFiles, max(16, available))
        }
        if requested > available {
            logger.warning(
                "--max-open-files leaves too few descriptors beside --max-connections; raise LimitNOFILE or lower either",
                metadata: ["max_open_files": "\(requested)", "open_file_limit": "\(limit)", "max_connections": "\(settings.server.maximumConnections)"]
            )
        }
        return requested
    }

    /// Runs until SIGTERM/SIGINT (success) or a fatal failure. SIGHUP reloads the configuration
    /// file, then the Lua models of the models directory, once the daemon serves; SIGHUPs that arrive before, or while a reload runs, make one
    /// reload after it. No reload runs once shutdown begins.
    func run() async -> Outcome {
        signal(SIGPIPE, SIG_IGN)
        let shutdown = Latch<ShutdownReason>()
        let logger = self.logger
        var signals = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { @Sendable in shutdown.fire(.signal(number)) }
            source.resume()
            return source
        }
        signal(SIGHUP, SIG_IGN)
        let (hangUps, hangingUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let hangUp = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangUp.setEventHandler { @Sendable in hangingUp.yield() }
        hangUp.resume()
        signals.append(hangUp)
        defer { signals.forEach { $0.cancel() } }

        let engine: Engine
        let server: UnixSocketServer
        // Only what --projection names runs: an unused projection would cost every commit.
        let projections: [any QueryableProjection] = settings.projections.contains("account-balances") ? [AccountBalances()] : []
        let models: ModelCatalog
        do throws(ModelReloadError) {
            models = try settings.modelsDirectory.map { directory throws(ModelReloadError) in try LuaModelReloader.catalog(of: directory) } ?? .builtIn
        } catch {
            guard case .refused(let reason) = error else { return .failure("cannot load the models of --models-dir: \(error)") }
            return .failure("cannot load the models of --models-dir: \(reason)")
        }
        if let directory = settings.modelsDirectory {
            logger.info("loaded Lua models", metadata: [
                "directory": "\(directory)", "models": "\(models.models.compactMap(\.program?.name).joined(separator: ", "))",
            ])
        }
        do {
            engine = try await Engine.start(
                Engine.Configuration(
                    dataDirectory: settings.dataDirectory,
                    models: models,
                    maximumAggregates: settings.maximumAggregates,
                    maximumMemory: settings.maximumMemory,
                    snapshotInterval: settings.snapshotInterval,
                    idleTimeout: settings.idleTimeout,
                    checkpointInterval: settings.checkpointInterval,
                    sync: settings.sync,
                    maximumOpenFiles: openFileBudget(),
                    ioThreads: settings.ioThreads,
                    threads: settings.threads,
                    subscriptionBuffer: settings.subscriptionBuffer,
                    handlers: projections,
                    globalSegmentSize: settings.segmentSize,
                    globalRetentionBytes: settings.retainGlobal,
                    commandWindow: settings.commandWindow,
                    postgres: settings.postgresStore
                ),
                logger: logger,
                onFatal: { error in shutdown.fire(.storageFailed(error.description)) }
            )
        } catch {
            if let postgres = settings.postgres {
                return .failure("cannot open the PostgreSQL store \(postgres): \(error)")
            }
            return .failure("cannot open the data directory: \(error)")
        }
        let reloader = settings.modelsDirectory.map { LuaModelReloader(directory: $0, engine: engine, logger: logger) }
        do {
            server = try await UnixSocketServer.bind(
                listener, configuration: settings.server, engine: engine, projections: projections, models: reloader, logger: logger
            )
        } catch {
            await engine.shutdown()
            return .failure("cannot listen on \(settings.socketPath): \(error)")
        }
        var metrics: MetricsEndpoint?
        if let address = settings.metricsListen, let registry = settings.server.metrics.registry {
            do {
                metrics = try await MetricsEndpoint.bind(
                    host: address.host, port: address.port,
                    exporter: PrometheusExporter(registry: registry, engine: engine, server: server), group: engine.eventLoopGroup
                )
            } catch {
                server.shutdown()
                await engine.shutdown()
                return .failure("cannot serve metrics on \(address) (--metrics-listen): \(error)")
            }
        }

        let serving = Task {
            do {
                try await server.run()
                shutdown.fire(.serverStopped(nil))
            } catch {
                shutdown.fire(.serverStopped(error))
            }
        }
        let listening = inheritedSocket.map { "\(SocketActivation.path(of: $0) ?? "unnamed socket") (from systemd)" } ?? settings.socketPath
        var readyMetadata: Logger.Metadata = [
            "socket": "\(listening)", "data": "\(settings.postgres.map { "postgresql \($0)" } ?? settings.dataDirectory)",
            "sync": "\(settings.postgres == nil ? settings.sync.rawValue : "postgresql")",
            "version": "\(BuildInfo.description)",
        ]
        if let address = metrics?.address {
            readyMetadata["metrics"] = "http://\(address.ipAddress.map { address.protocol == .inet6 ? "[\($0)]" : $0 } ?? "?"):\(address.port ?? 0)/metrics"
        }
        logger.info("ready", metadata: readyMetadata)
        SystemdNotifier.ready(status: "serving on \(listening)")
        let monitors = Task { await monitor(engine, server) }
        let reloads = Task { await reloadOnHangUp(hangUps, engine: engine, server: server, models: reloader, listening: listening) }

        let reason = await shutdown.wait()
        monitors.cancel()
        // No reload runs from here on: the engine and server are about to stop.
        hangingUp.finish()
        let running = await reloads.value
        let outcome = outcome(of: reason)
        SystemdNotifier.stopping(status: "stopping: \(Self.describe(reason))")
        logger.notice("shutting down", metadata: ["reason": "\(Self.describe(reason))"])
        server.shutdown()
        await metrics?.close()
        let timeout = running.shutdownTimeout
        let forceClose = Task {
            try await Task.sleep(for: timeout)
            logger.warning("closing connections that did not finish in time")
            server.closeAllConnections()
        }
        await serving.value
        forceClose.cancel()
        await engine.shutdown()
        if inheritedSocket == nil {
            let path = settings.socketPath
            _ = try? await NIOThreadPool.singleton.runIfActive { unlink(path) }
        }
        logger.info("stopped")
        return outcome
    }

    private var listener: UnixSocketServer.Listener {
        inheritedSocket.map { .inherited($0) } ?? .path(settings.socketPath)
    }

    private func outcome(of reason: ShutdownReason) -> Outcome {
        switch reason {
        case .signal: .success
        case .storageFailed, .serverStopped: .failure(Self.describe(reason))
        }
    }

    private static func describe(_ reason: ShutdownReason) -> String {
        switch reason {
        case .signal(let number): number == SIGTERM ? "SIGTERM" : "SIGINT"
        case .storageFailed(let message): "storage failed: \(message)"
        case .serverStopped(let error?): "server failed: \(error)"
        case .serverStopped(nil): "server stopped"
        }
    }

    /// Sends the watchdog ping while the engine answers, and live figures as STATUS, until cancelled.
    private func monitor(_ engine: Engine, _ server: UnixSocketServer) async {
        let watchdog = SystemdNotifier.watchdogTimeout
        let interval = watchdog.map { $0 / 2 } ?? .seconds(10)
        var lastStatus = ContinuousClock.now
        while !Task.isCancelled {
            if watchdog != nil {
                do {
                    try await engine.checkHealth()
                    SystemdNotifier.watchdog()
                } catch {
                    logger.error("health check failed; not pinging the watchdog", metadata: ["error": "\(error)"])
                }
            }
            if ContinuousClock.now - lastStatus >= .seconds(10) || watchdog == nil {
                lastStatus = .now
                let figures = engine.statistics
                SystemdNotifier.status(
                    "\(figures.liveAggregates) aggregates live, \(server.openConnections) connections, \(figures.commands) commands"
                )
            }
            try? await Task.sleep(for: interval)
        }
    }
}
