import Foundation
import Glibc

/// A configuration file as `--config` names it: one `key = value` per line, where a key is one of
/// `sourced`'s long option names without the dashes (`log-level = debug`); blank lines and lines
/// starting with `#` are ignored; spaces around the key and the value are dropped. A list
/// (`allow-uid`, `allow-gid`, `projection`) is one line of comma-separated values.
///
/// Reading checks the form only (every line an assignment, each key known and given once);
/// ``DaemonSettings`` checks the values and names the line of a bad one.
struct ConfigurationFile: Sendable {
    /// One assignment and the line it is on (counted from 1).
    struct Entry: Sendable {
        var value: String
        var line: Int
    }

    /// The path the file was read from, as given.
    let path: String
    /// The assignments by key.
    let entries: [String: Entry]

    /// Reads and parses the file at `path`, accepting the keys in `keys`.
    static func read(_ path: String, keys: Set<String>) throws(ConfigurationFileError) -> ConfigurationFile {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        let data: Data?
        do {
            data = try FileHandle(fileDescriptor: descriptor, closeOnDealloc: true).readToEnd()
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        guard let text = String(data: data ?? Data(), encoding: .utf8) else { throw .notText(path: path) }
        return try ConfigurationFile(path: path, text: text, keys: keys)
    }

    /// Parses `text`, read from `path`, accepting the keys in `keys`.
    init(path: String, text: String, keys: Set<String>) throws(ConfigurationFileError) {
        var entries: [String: Entry] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            guard let equals = line.firstIndex(of: "=") else { throw .notAnAssignment(path: path, line: index + 1, text: line) }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard keys.contains(key) else { throw .unknownKey(path: path, line: index + 1, key: key, known: keys.sorted()) }
            if let first = entries[key] { throw .repeatedKey(path: path, line: index + 1, key: key, firstLine: first.line) }
            entries[key] = Entry(value: value, line: index + 1)
        }
        self.path = path
        self.entries = entries
    }

    /// Where `key`'s value comes from, for messages: `PATH line N (key)`.
    func origin(of key: String) -> String? {
        entries[key].map { "\(path) line \($0.line) (\(key))" }
    }
}
