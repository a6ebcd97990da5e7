import ArgumentParser
import Foundation
import SourcedJSON

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a model's aggregate ids, page by page.",
        discussion: """
            Ids of aggregates that recorded something, one per line, in byte order of their \
            UTF-8. A page holds --limit ids after --after; when more follow, the command to get \
            them is printed on standard error. --all pages through every id. Each page reads the \
            model's directory once: listing is for operators, not for a request path.
            """ + "\n\n" + examples([
            ("The first 1000 counters", "sourcectl ls counter"),
            ("The next page", "sourcectl ls counter --after c999"),
            ("Every account, for a script", "sourcectl ls account --all"),
        ])
    )

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The model.") var model: String
    @Option(help: "List ids after this one.") var after: String?
    @Option(help: "List at most this many ids per page (1-10000).") var limit: Int = 1000
    @Flag(help: "Page through every id.") var all = false

    func run() async throws {
        var after = self.after
        repeat {
            var request: JSONValue = ["op": "list", "model": .string(model), "limit": .integer(Int64(limit))]
            if let after { request["after"] = .string(after) }
            let reply = try await connection.call(request)
            let ids = reply["ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if !connection.json {
                Terminal.standardOutput.write(ids.map { $0 + "\n" }.joined())
            }
            guard reply["more"] == true, let last = ids.last else { return }
            after = last
            if !all {
                Terminal.standardError.write("more ids follow; next page: sourcectl ls \(model) --after \(Self.shellWord(last))\n")
            }
        } while all
    }

    /// `id` as one shell word: as it is if plain, else single-quoted.
    private static func shellWord(_ id: String) -> String {
        let plain = id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || "-_.:/".utf8.contains(byte)
        }
        return plain ? id : "'" + id.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
