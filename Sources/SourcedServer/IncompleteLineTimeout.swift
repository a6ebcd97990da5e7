import NIOCore

/// Closes the door on clients that start a request line and never finish it (slow loris): if
/// bytes of an unfinished line have been waiting longer than `timeout`, it raises
/// ``IncompleteLineTimeout/Expired`` so the connection is answered and closed. Idle connections
/// without a partial line, and subscriptions, are left alone.
final class IncompleteLineTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Raised when a partial line waited too long.
    struct Expired: Error {}

    private let timeout: TimeAmount
    /// When the unfinished line's first bytes arrived, if there is one.
    private var pendingSince: NIODeadline?
    private var check: RepeatedTask?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let interval = min(timeout, .seconds(1))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = bound.value
            guard let since = handler.pendingSince, .now() - since >= handler.timeout else { return }
            handler.pendingSince = nil
            handler.check?.cancel()
            context.fireErrorCaught(Expired())
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        let view = bytes.readableBytesView
        if view.contains(UInt8(ascii: "\n")) {
            pendingSince = view.last == UInt8(ascii: "\n") ? nil : .now()
        } else if !view.isEmpty, pendingSince == nil {
            pendingSince = .now()
        }
        context.fireChannelRead(data)
    }
}
