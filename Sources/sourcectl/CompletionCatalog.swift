import SourcedJSON

/// What Tab completes at the interactive prompt: the first word from the session's words, model
/// names after `exec`, `get` and `events`, a model's command names where `exec` expects a
/// command (third word after `exec`, or after a `+`).
struct CompletionCatalog: Sendable {
    /// The words a line may start with.
    var firstWords: [String]
    /// The subcommands `help` describes.
    var subcommands: [String]
    /// Each model's command names, by model name.
    var commands: [String: [String]] = [:]

    /// Adds the models and commands of a `models` reply.
    mutating func learn(models reply: JSONValue) {
        for model in reply["models"]?.arrayValue ?? [] {
            guard let name = model["name"]?.stringValue else { continue }
            commands[name] = (model["commands"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
        }
    }

    /// Whether it knows any model yet.
    var knowsModels: Bool { !commands.isEmpty }

    /// The candidates for the word `partial` after the complete words `before`, sorted.
    func candidates(after before: [String], partial: String) -> [String] {
        let all: [String]
        switch (before.first, before.count) {
        case (nil, _): all = firstWords
        case ("exec"?, 1), ("get"?, 1), ("events"?, 1), ("ls"?, 1): all = Array(commands.keys)
        case ("exec"?, 3): all = commands[before[1]] ?? []
        case ("exec"?, let count) where count > 3 && before.last == "+": all = commands[before[1]] ?? []
        case ("help"?, 1): all = subcommands
        case ("json"?, 1): all = ["on", "off"]
        default: all = []
        }
        return all.filter { $0.hasPrefix(partial) }.sorted()
    }
}
