/// A TCP address to listen on, as `--metrics-listen` takes it: `HOST:PORT`, `[IPV6]:PORT`, or a
/// bare `PORT` for the loopback address 127.0.0.1.
struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    init?(_ text: String) {
        let hostPart: Substring
        let portPart: Substring
        if let port = Int(text) {
            self.init(host: "127.0.0.1", port: port)
            return
        }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart) else { return nil }
        self.init(host: String(hostPart), port: port)
    }

    private init?(host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
    }

    var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
