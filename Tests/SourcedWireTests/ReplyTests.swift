import NIOCore
import SourcedCore
import SourcedJSON
import SourcedWire
import Testing

@Suite struct ReplyTests {
    private let key = AggregateKey(model: Counter.name, id: try! AggregateID("c1"))
    private let req = Array(#"[1e400, 18446744073709551616]"#.utf8)

    /// Every kind of reply ends with the request's own `req` text and a newline.
    @Test func everyReplyEndsWithReqAsSent() {
        let replies = [
            Reply.commit(key: key, version: 2, position: 7, events: Array(#"[{"type":"incremented","count":1}]"#.utf8), state: Counter.State(count: 1), req: req),
            Reply.success(SnapshotBody<Counter>(id: key.id, version: 0, state: nil), req: req),
            Reply.success(members: ["pong": true, "req": "not this one"], req: req),
            Reply.failure(ProtocolError(.badRequest, "no"), req: req),
        ]
        for reply in replies {
            #expect(String(buffer: reply).hasSuffix(#","req":[1e400, 18446744073709551616]}"# + "\n"), "\(String(buffer: reply))")
        }
    }

    @Test func writesTheDocumentedForms() {
        let commit = Reply.commit(key: key, version: 1, position: 0, events: [], state: Counter.State(count: 0), req: nil)
        #expect(String(buffer: commit) == #"{"ok":true,"model":"counter","id":"c1","version":1,"events":[],"state":{"count":0}}"# + "\n")
        let snapshot = Reply.success(SnapshotBody<Counter>(id: key.id, version: 0, state: nil), req: nil)
        #expect(String(buffer: snapshot) == #"{"ok":true,"model":"counter","id":"c1","version":0,"state":null}"# + "\n")
        let page = Reply.success(EventsBody<Counter>(id: key.id, version: 3, events: [.init(version: 3, timestamp: 5, event: .incremented(count: 2))]), req: nil)
        #expect(String(buffer: page) == #"{"ok":true,"model":"counter","id":"c1","version":3,"events":[{"version":3,"timestamp":5,"event":{"type":"incremented","count":2}}]}"# + "\n")
        let failure = Reply.failure(ProtocolError(.wrongVersion, "expected 1", details: ["expected": 1, "actual": 2, "code": "x"]), req: nil)
        #expect(String(buffer: failure) == #"{"ok":false,"error":{"code":"wrong_version","message":"expected 1","expected":1,"actual":2}}"# + "\n")
    }

    /// The outcome read back from a reply line: the code of every failure, `nil` for successes.
    @Test func errorCodeReadsTheCodeOfAFailureOnly() {
        for code in ErrorCode.allCases {
            #expect(Reply.errorCode(of: Reply.failure(ProtocolError(code, "why"), req: req)) == code)
        }
        #expect(Reply.errorCode(of: Reply.success(members: ["pong": true], req: req)) == nil)
        #expect(Reply.errorCode(of: Reply.commit(key: key, version: 1, position: 1, events: [], state: Counter.State(count: 0), req: nil)) == nil)
        #expect(Reply.errorCode(of: ByteBuffer()) == nil)
    }
}
