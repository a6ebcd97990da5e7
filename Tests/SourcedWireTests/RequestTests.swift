import SourcedCore
import SourcedWire
import Testing

@Suite struct RequestTests {
    private func parse(_ line: String) throws -> Request {
        try Request(line: Array(line.utf8), catalog: ModelCatalog.builtIn)
    }

    /// `req` is the member's own text, inner spacing included, whatever else is wrong.
    @Test func keepsTheTextOfReq() throws {
        #expect(try parse(#"{"op":"ping","req": [1e400, {"a" : 18446744073709551616}] }"#).req == Array(#"[1e400, {"a" : 18446744073709551616}]"#.utf8))
        #expect(try parse(#"{"op":"nope","req":"\u0041"}"#).req == Array(#""\u0041""#.utf8))
        #expect(try parse(#"{"op":"ping"}"#).req == nil)
    }

    /// The kind names the operation even when the other fields are wrong, and only known ones.
    @Test func kindNamesTheOperationAskedFor() throws {
        #expect(try parse(#"{"op":"execute","model":"counter","id":"c","command":{"type":"create"}}"#).kind == .execute)
        #expect(try parse(#"{"op":"execute","model":"counter","id":"c","command":{"type":"explode"}}"#).kind == .execute)
        #expect(try parse(#"{"op":"events","model":"nobody","id":"c"}"#).kind == .events)
        #expect(try parse(#"{"op":"monitor"}"#).kind == .monitor)
        #expect(try parse(#"{"op":"teleport"}"#).kind == .invalid)
        #expect(try parse(#"{"op":7}"#).kind == .invalid)
        #expect(try parse(#"{}"#).kind == .invalid)
    }

    /// Aggregate requests come out typed by model, as a visitor sees them.
    @Test func typesAggregateRequestsByModel() throws {
        struct Describe: AggregateRequestVisitor {
            func execute<Model: AggregateModel>(_ request: ExecuteRequest<Model>) -> String {
                "execute \(Model.name) \(request.key.id) \(request.commands.count) \(request.expected.map(String.init) ?? "-")"
            }

            func get<Model: AggregateModel>(_ request: GetRequest<Model>) -> String {
                "get \(Model.name) \(request.key.id)"
            }

            func events<Model: AggregateModel>(_ request: EventsRequest<Model>) -> String {
                "events \(Model.name) \(request.key.id) \(request.versions)"
            }
        }
        func described(_ line: String) throws -> String? {
            let request = try parse(line)
            guard case .aggregate(let aggregate) = request.operation else { return nil }
            return aggregate.accept(Describe())
        }
        #expect(try described(#"{"op":"execute","model":"account","id":"a1","commands":[{"type":"open","owner":"x"},{"type":"close"}],"expect":0}"#) == "execute account a1 2 0")
        #expect(try described(#"{"op":"get","model":"counter","id":"c1"}"#) == "get counter c1")
        #expect(try described(#"{"op":"events","model":"counter","id":"c1","from":3,"limit":2}"#) == "events counter c1 4..<6")
        #expect(try described(#"{"op":"events","model":"counter","id":"c1","from":18446744073709551615}"#) == "events counter c1 18446744073709551615..<18446744073709551615")
    }
}
