import Foundation
import Glibc
import SourcedClient
import SourcedJSON
import SourcedWire

/// An output stream and what it can show: colour only on a terminal, and never with `NO_COLOR`.
struct Terminal {
    enum Color: String {
        case red = "31"
        case green = "32"
        case yellow = "33"
        case dim = "2"
        case bold = "1"
    }

    static let standardInput = Terminal(descriptor: STDIN_FILENO)
    static let standardOutput = Terminal(descriptor: STDOUT_FILENO)
    static let standardError = Terminal(descriptor: STDERR_FILENO)

    let descriptor: Int32
    let isTerminal: Bool
    let usesColor: Bool

    init(descriptor: Int32, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.descriptor = descriptor
        isTerminal = isatty(descriptor) == 1
        usesColor = isTerminal && environment["NO_COLOR"].map(\.isEmpty) != false && environment["TERM"] != "dumb"
    }

    func paint(_ text: String, _ color: Color) -> String {
        usesColor ? "\u{1B}[\(color.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// Writes `text`; if the reader went away (`sourcectl ... | head`), exits quietly with the
    /// status a program killed by SIGPIPE has.
    func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                Glibc.exit(128 + SIGPIPE)
            }
        }
    }

    func printError(_ message: String) {
        guard !message.isEmpty else { return }
        write(paint("sourcectl: error:", .red) + " \(message)\n")
    }

    /// Rows of cells with each column padded to its widest cell.
    static func table(_ rows: [[String]]) -> String {
        let widths = rows.reduce(into: [Int]()) { widths, row in
            for (column, cell) in row.enumerated() {
                if column == widths.count { widths.append(0) }
                widths[column] = max(widths[column], cell.count)
            }
        }
        return rows.map { row in
            let line = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
            return String(line.reversed().drop { $0 == " " }.reversed())
        }.joined(separator: "\n") + "\n"
    }
}

extension JSONValue {
    /// Compact JSON text, members in their order.
    var text: String {
        SourcedConnection.encode(self)
    }

    /// The members of an event object other than `"type"`, as JSON text (`{}` if none).
    var fieldsText: String {
        guard case .object = self else { return text }
        var fields = self
        fields["type"] = nil
        return fields.text
    }
}
