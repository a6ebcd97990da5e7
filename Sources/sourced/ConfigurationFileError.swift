/// Why a configuration file cannot be used; each message names the file and, where there is one,
/// the line to fix.
enum ConfigurationFileError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case notText(path: String)
    case notAnAssignment(path: String, line: Int, text: String)
    case unknownKey(path: String, line: Int, key: String, known: [String])
    case repeatedKey(path: String, line: Int, key: String, firstLine: Int)

    var description: String {
        switch self {
        case .unreadable(let path, let reason):
            "cannot read the configuration file \(path): \(reason)"
        case .notText(let path):
            "the configuration file \(path) is not UTF-8 text"
        case .notAnAssignment(let path, let line, let text):
            "\(path) line \(line): \"\(text)\" is not \"key = value\" (a comment starts with #)"
        case .unknownKey(let path, let line, let key, let known):
            "\(path) line \(line): unknown key \"\(key)\"; keys are the long option names of sourced --help: \(known.joined(separator: ", "))"
        case .repeatedKey(let path, let line, let key, let firstLine):
            "\(path) line \(line): \"\(key)\" is already set on line \(firstLine); give a list as one line of comma-separated values"
        }
    }
}
