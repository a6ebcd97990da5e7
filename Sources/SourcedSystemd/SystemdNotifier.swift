import CSystemd
import Glibc

/// Talks to the service manager through `sd_notify(3)`: readiness, status, watchdog, stopping.
///
/// Every call is a no-op when the process was not started by systemd (no `NOTIFY_SOCKET`), so the
/// daemon calls it unconditionally.
public enum SystemdNotifier {
    /// Tells systemd the service is ready; call once the socket accepts and the data is open,
    /// and again after each reload (``reloading()``).
    public static func ready(status: String) {
        send("READY=1\nSTATUS=\(status)")
    }

    /// Tells systemd the service is reloading its configuration; follow with ``ready(status:)``
    /// once the reload is done (applied or refused).
    public static func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Updates the one-line status `systemctl status` shows.
    public static func status(_ status: String) {
        send("STATUS=\(status)")
    }

    /// Tells the watchdog the service is alive; send only after checking that it is.
    public static func watchdog() {
        send("WATCHDOG=1")
    }

    /// Tells systemd the service is shutting down.
    public static func stopping(status: String) {
        send("STOPPING=1\nSTATUS=\(status)")
    }

    /// The watchdog timeout systemd set for this process (`WatchdogSec=`), or `nil` if none.
    /// Ping at half this interval.
    public static var watchdogTimeout: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }

    private static func send(_ state: String) {
        _ = sd_notify(0, state)
    }
}
