import CLinux
import Glibc
import NIOCore

/// Who is on the other end of a Unix socket connection, as the kernel says (`SO_PEERCRED`).
struct PeerCredentials: Sendable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    /// The credentials of `channel`'s peer, or `nil` if the socket cannot tell.
    /// Completes on the channel's loop.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        let future: EventLoopFuture<sourced_peer_credentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
        )
        return future.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }.recover { _ in nil }
    }
}

/// Which users may talk to the daemon, beyond what the socket's file mode already allows.
public struct AccessPolicy: Sendable {
    /// Users allowed by uid; empty with `groups` empty: everyone who can open the socket.
    public var users: Set<UInt32>
    /// Users allowed by their primary gid.
    public var groups: Set<UInt32>

    public init(users: Set<UInt32> = [], groups: Set<UInt32> = []) {
        self.users = users
        self.groups = groups
    }

    var isOpen: Bool { users.isEmpty && groups.isEmpty }

    /// Whether `peer` may connect. Root and the daemon's own user always may.
    func allows(_ peer: PeerCredentials) -> Bool {
        isOpen || peer.uid == 0 || peer.uid == getuid() || users.contains(peer.uid) || groups.contains(peer.gid)
    }
}
