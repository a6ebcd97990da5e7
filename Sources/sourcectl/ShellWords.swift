/// Splits a line typed at the prompt into words as a shell splits plain arguments, so a line
/// reads like the command line it stands for: blanks separate words; `'...'` keeps everything
/// inside literally; `"..."` too, except that `\"` and `\\` stand for `"` and `\`; outside quotes
/// a backslash keeps the next character. No variables, globs or other expansions.
enum ShellWords {
    /// The words of `line`; a usage ``CommandFailure`` if a quote is left open or the line ends
    /// in a lone backslash.
    static func split(_ line: String) throws(CommandFailure) -> [String] {
        var words: [String] = []
        var word = ""
        /// Whether a word has started: `''` is an empty word, blanks are none.
        var started = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                if quote == "\"" && character != "\"" && character != "\\" { word.append("\\") }
                word.append(character)
                escaped = false
            } else if character == "\\" && quote != "'" {
                escaped = true
                started = true
            } else if let open = quote {
                if character == open { quote = nil } else { word.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                started = true
            } else if character.isWhitespace {
                if started { words.append(word) }
                word = ""
                started = false
            } else {
                word.append(character)
                started = true
            }
        }
        if let quote {
            throw CommandFailure(message: "the \(quote) quote is not closed: close it, or write \\\(quote) for the character itself", status: .usage)
        }
        if escaped {
            throw CommandFailure(message: "the line ends with a lone \\: remove it, or write \\\\ for the character itself", status: .usage)
        }
        if started { words.append(word) }
        return words
    }
}
