import Glibc

/// The bytes a connection has received and not yet handled, read straight from its socket and
/// cut into replies in place: handling a reply copies nothing.
struct ReplyBuffer {
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    /// The unread bytes are `buffer[start..<end]`.
    private var start = 0
    private var end = 0

    /// Reads what the socket `descriptor` holds (waiting for something unless `blocking` is
    /// false) after the unread bytes, growing the buffer when they fill it; returns what `recv`
    /// returned (`errno` tells why when negative).
    mutating func read(from descriptor: Int32, blocking: Bool = false) -> Int {
        if start == end {
            (start, end) = (0, 0)
        } else if start > 0 {
            let (from, count) = (start, end - start)
            buffer.withUnsafeMutableBytes { _ = memmove($0.baseAddress!, $0.baseAddress! + from, count) }
            (start, end) = (0, count)
        }
        if end == buffer.count {
            buffer.append(contentsOf: repeatElement(0, count: buffer.count))
        }
        let end = end
        let flags = blocking ? 0 : Int32(MSG_DONTWAIT)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + end, $0.count - end, flags) }
        if count > 0 { self.end += count }
        return count
    }

    /// If the unread bytes begin with a complete reply (`length` gives its length, or `nil` while
    /// it is incomplete), consumes it and returns what `body` makes of its bytes; else `nil`.
    mutating func next<T>(length: (ArraySlice<UInt8>) -> Int?, _ body: (ArraySlice<UInt8>) -> T) -> T? {
        let unread = buffer[start..<end]
        guard let count = length(unread) else { return nil }
        let result = body(unread.prefix(count))
        start += count
        return result
    }
}
