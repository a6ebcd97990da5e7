import Glibc
import SourcedCore
import Synchronization
import Testing

/// The exit of a program a test started, awaited with a bound: a program still running at the
/// bound is killed with SIGKILL and an issue recorded, so that a hung program fails its test
/// instead of holding the whole suite.
public final class ProcessExit: Sendable {
    private let status = Latch<Int32>()
    /// Set before the status: once the exit is known, the PID may belong to another process.
    private let exited = Mutex(false)

    public init() {}

    /// Whether the process has exited.
    public var hasExited: Bool {
        exited.withLock { $0 }
    }

    /// Records the exit status; for whatever reaped the process.
    public func fire(_ exitStatus: Int32) {
        exited.withLock { $0 = true }
        status.fire(exitStatus)
    }

    /// The exit status of `pid`, once it has exited. Past `timeout`, `pid` is killed and an issue
    /// names `program` and what `details` returns then (its log, say).
    public func wait(pid: pid_t, program: String, timeout: Duration, details: @escaping @Sendable () -> String) async -> Int32 {
        let bound = Task {
            try await Task.sleep(for: timeout)
            guard !exited.withLock({ $0 }) else { return }
            Issue.record("\(program) (pid \(pid)) did not exit within \(timeout); killed it. \(details())")
            Glibc.kill(pid, SIGKILL)
        }
        defer { bound.cancel() }
        return await status.wait()
    }
}
