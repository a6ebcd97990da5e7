import CEdit
import Foundation
import Synchronization

/// Reads lines at a terminal prompt with libedit (its readline-compatible API): line editing,
/// a history walked with Up and Down and kept in a file, and Tab completion.
///
/// libedit keeps this state for the whole process, so there is one editor at a time.
final class LineEditor {
    /// The most lines the history keeps, in memory and in its file.
    static let historyLimit: Int32 = 1000

    /// The completion the prompt offers; read by libedit's callback on the reading thread.
    private static let catalog = Mutex<CompletionCatalog?>(nil)

    private let historyPath: String?
    private var lastLine: String?

    /// An editor whose history is read from and written to `historyPath` (none if `nil`), and
    /// which completes from `catalog` (nothing if `nil`).
    init(historyPath: String?, catalog: CompletionCatalog?) {
        self.historyPath = historyPath
        Self.catalog.withLock { $0 = catalog }
        using_history()
        stifle_history(Self.historyLimit)
        if let historyPath {
            _ = read_history(historyPath)
        }
        sourced_edit_set_completion(completeLine)
    }

    /// Replaces what Tab completes from.
    func complete(from catalog: CompletionCatalog) {
        Self.catalog.withLock { $0 = catalog }
    }

    /// The next line typed after `prompt`, without its newline; `nil` at Ctrl-D on an empty line.
    ///
    /// libedit blocks while the user types, so it runs on a thread of its own, not on one of
    /// the threads Swift's tasks share.
    func readLine(prompt: String) async -> String? {
        await withCheckedContinuation { continuation in
            Thread {
                guard let line = readline(prompt) else { return continuation.resume(returning: nil) }
                defer { free(line) }
                continuation.resume(returning: String(cString: line))
            }.start()
        }
    }

    /// Adds `line` to the history (unless it repeats the previous one) and saves the history, so
    /// it survives however the session ends; the file keeps the last ``historyLimit`` lines.
    func remember(_ line: String) {
        guard line != lastLine else { return }
        lastLine = line
        _ = add_history(line)
        guard let historyPath else { return }
        let directory = (historyPath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = write_history(historyPath)
    }

    /// The candidates for the word between `start` and the cursor, for libedit: `nil` for none,
    /// else a `malloc`ed, `NULL`-terminated array of `malloc`ed strings (libedit frees them):
    /// what replaces the word (the matches' common prefix), then the matches.
    fileprivate static func matches(start: Int32, partial: String) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        let before: String
        if start > 0, let text = rl_copy_text(0, start) {
            before = String(cString: text)
            free(text)
        } else {
            before = ""
        }
        let words = before.split(whereSeparator: \.isWhitespace).map(String.init)
        let found = catalog.withLock { $0?.candidates(after: words, partial: partial) } ?? []
        guard let first = found.first else { return nil }
        // libedit reads the entry after the first match even when there is only one.
        let entries = [found.dropFirst().reduce(first) { String($0.commonPrefix(with: $1)) }] + found
        guard let memory = malloc(MemoryLayout<UnsafeMutablePointer<CChar>?>.stride * (entries.count + 1)) else { return nil }
        let list = memory.bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: entries.count + 1)
        for (index, entry) in entries.enumerated() {
            list[index] = strdup(entry)
        }
        list[entries.count] = nil
        return list
    }
}

/// libedit's completion callback: the candidates for `text`, the word that starts at `start`.
private func completeLine(
    _ text: UnsafePointer<CChar>?, _ start: Int32, _ end: Int32
) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
    sourced_edit_no_default_completion()
    return LineEditor.matches(start: start, partial: text.map { String(cString: $0) } ?? "")
}
