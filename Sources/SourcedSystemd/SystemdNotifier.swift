import CSystemd

/// Talks to the service manager through `sd_notify(3)`: readiness, status, watchdog, stopping.
///
/// Every call is a no-op when the process was not started by systemd (no `NOTIFY_SOCKET`), so the
/// daemon calls it unconditionally.
public enum SystemdNotifier {
    /// Tells systemd the service is ready; call once the socket accepts and the data is open.
    public static func ready(status: String) {
        send("READY=1\nSTATUS=\(status)")
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

/// Sockets passed by systemd socket activation (`LISTEN_FDS`).
public enum SocketActivation {
    /// Why an inherited socket cannot be used.
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    /// The listening Unix stream socket systemd passed, or `nil` if none was passed.
    ///
    /// Call early in `main`: it consumes `LISTEN_FDS` (and unsets it for child processes).
    public static func listeningSocket() throws(Error) -> Int32? {
        let count = sd_listen_fds(1)
        guard count > 0 else {
            if count < 0 { throw Error(description: "cannot read the sockets passed by systemd (LISTEN_FDS): error \(-count)") }
            return nil
        }
        guard count == 1 else {
            throw Error(description: "systemd passed \(count) sockets; sourced listens on exactly one (check sourced.socket)")
        }
        let descriptor = SD_LISTEN_FDS_START
        guard sd_is_socket_unix(descriptor, Int32(SOCK_STREAM.rawValue), 1, nil, 0) > 0 else {
            throw Error(description: "the socket systemd passed is not a listening Unix stream socket (use ListenStream=/path)")
        }
        return descriptor
    }
}
