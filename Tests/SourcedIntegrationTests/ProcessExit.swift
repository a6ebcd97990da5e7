import Glibc
import SourcedCore
import Testing

/// The exit of a program a test started, awaited with a bound: a program still running at the
/// bound is killed with SIGKILL and an issue recorded, so that a hung program fails its test
/// instead of holding the whole suite.
final class ProcessExit: Sendable {
    private let status = Latch<Int32>()

    /// Records the exit status; for the process's termination handler.
    func fire(_ exitStatus: Int32) {
        status.fire(exitStatus)
    }

    /// The exit status of `pid`, once it has exited. Past `timeout`, `pid` is killed and an issue
    /// names `program` and what `details` returns then (its log, say).
    func wait(pid: pid_t, program: String, timeout: Duration, details: @escaping @Sendable () -> String) async -> Int32 {
        let bound = Task {
            try await Task.sleep(for: timeout)
            Issue.record("\(program) (pid \(pid)) did not exit within \(timeout); killed it. \(details())")
            Glibc.kill(pid, SIGKILL)
        }
        defer { bound.cancel() }
        return await status.wait()
    }
}
