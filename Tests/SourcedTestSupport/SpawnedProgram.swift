import CLinux
import Foundation

/// Runs a program with `posix_spawn`, not Foundation's `Process`: `Process` notices an
/// exit only once every descendant has closed a descriptor the child inherits (a daemon the
/// program starts, such as `pg_ctl start`'s server, keeps it open for its whole life), and
/// `Process.run()` on Linux (Swift 6.3.1) now and then crashes the test process with a read past
/// a buffer while it lists `/proc/self/fd` (swift-corelibs-foundation#5472).
///
/// The child gets standard input from `inputPath` (`/dev/null` by default), standard output
/// appended to `logPath` and standard error to `errorsPath` (or `logPath`), `directory` as its
/// working directory if given, no other descriptor, no blocked signal and every signal's default
/// action. It is waited for on a thread of its own,
/// never on the cooperative pool. One still running after `timeout` is killed
/// (``ProcessExit``: status 137, and the test fails).
public enum SpawnedProgram {
    /// A started program: its PID, and its exit as `waitpid` reports it (``ProcessExit``).
    public struct Child: Sendable {
        public let pid: pid_t
        public let exit: ProcessExit
    }

    /// Runs the program to its end; its exit status (128 + the signal if a signal ended it).
    /// - Throws: `POSIXError` if it cannot be started.
    public static func run(
        _ path: String, _ arguments: [String], environment: [String: String], directory: String? = nil,
        inputPath: String = "/dev/null", logPath: String, errorsPath: String? = nil, timeout: Duration = .seconds(300)
    ) async throws -> Int32 {
        let child = try start(path, arguments, environment: environment, directory: directory, inputPath: inputPath, logPath: logPath, errorsPath: errorsPath)
        let status = await child.exit.wait(pid: child.pid, program: path, timeout: timeout) {
            "Its output: " + String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(2000))
        }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Starts the program and returns at once; a thread of its own waits for its exit.
    /// - Throws: `POSIXError` if it cannot be started.
    public static func start(
        _ path: String, _ arguments: [String], environment: [String: String], directory: String? = nil,
        inputPath: String = "/dev/null", logPath: String, errorsPath: String? = nil
    ) throws -> Child {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let directory {
            sourced_spawn_change_directory(&actions, directory)
        }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        if let errorsPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorsPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        sourced_spawn_close_from(&actions, 3)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        // A clean signal state, as from a shell: the test process's threads block signals that
        // a child would otherwise inherit blocked.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var spawned: pid_t = 0
        let result = posix_spawn(&spawned, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        let pid = spawned
        let exit = ProcessExit()
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            exit.fire(status)
        }
        return Child(pid: pid, exit: exit)
    }
}
