import NIOCore

/// Splits a connection's bytes into request lines at `\n`, bounding each line's length.
///
/// An oversized line is not buffered: its bytes are dropped as they arrive, and ``Frame/tooLong``
/// is emitted once its end is seen, so the reply is written after the client's whole line has
/// been read and closing the connection then does not reset it under the client.
struct RequestLineDecoder: ByteToMessageDecoder {
    enum Frame: Sendable {
        /// One line, without its `\n`.
        case line(ByteBuffer)
        /// A line longer than the maximum was read and dropped.
        case tooLong
        /// The input ended in the middle of a line.
        case unterminated
    }

    typealias InboundOut = Frame

    /// How much of an oversized line is drained before giving up on finding its end.
    static let drainLimit = 64 << 20

    let maximumLength: Int
    /// Bytes after the reader index already known to hold no newline.
    private var searched = 0
    /// Bytes dropped of the oversized line being drained, if one is.
    private var draining: Int?

    init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        guard let newline = view[(view.startIndex + searched)...].firstIndex(of: 0x0A) else {
            searched = view.count
            if let dropped = draining {
                draining = dropped + view.count
                buffer.moveReaderIndex(forwardBy: view.count)
                searched = 0
                if draining! > Self.drainLimit {
                    draining = nil
                    context.fireChannelRead(wrapInboundOut(.tooLong))
                }
            } else if view.count > maximumLength {
                draining = view.count
                buffer.moveReaderIndex(forwardBy: view.count)
                searched = 0
            }
            return .needMoreData
        }
        let length = newline - view.startIndex
        searched = 0
        if draining != nil || length > maximumLength {
            draining = nil
            buffer.moveReaderIndex(forwardBy: length + 1)
            context.fireChannelRead(wrapInboundOut(.tooLong))
        } else {
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if draining != nil {
            draining = nil
            context.fireChannelRead(wrapInboundOut(.tooLong))
        } else if buffer.readableBytes > 0 {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.unterminated))
        }
        searched = 0
        return .needMoreData
    }
}
