import Foundation
import Glibc
import SourcedClient
import SourcedJSON
import SourcedTestSupport
import Synchronization
import Testing

/// Exactly-once across crashes (issue 15's acceptance): clients send increments, each with a
/// command id of its own; the daemon is SIGKILLed again and again; after each restart every
/// command that got no answer is sent again with its id, until it is answered. At the end each
/// counter's value is exactly the number of distinct ids sent to it, every id was answered with
/// one version (a repeat of an answered id is a duplicate with that version), and no two ids of
/// a counter share a version. CI runs 5 cycles; the long run is
/// `SOURCED_EXACTLY_ONCE_CYCLES=60 swift test --filter ExactlyOnceCrashTests`.
@Suite struct ExactlyOnceCrashTests {
    static let counters = 12
    static let writers = 4

    /// Every id sent, where it went, and what it was answered.
    final class Ledger: Sendable {
        struct State {
            /// Id → counter index.
            var sent: [String: Int] = [:]
            /// Id → the version its increment got.
            var answered: [String: Int64] = [:]
            var unanswered: Set<String> = []
            /// Answered ids, in the order of their first answer.
            var order: [String] = []
            var problems: [String] = []
            var next = 0
        }

        let state = Mutex(State())

        func newID(for counter: Int) -> String {
            state.withLock { state in
                state.next += 1
                let id = "cmd-\(state.next)"
                state.sent[id] = counter
                state.unanswered.insert(id)
                return id
            }
        }

        /// Records a reply to `id`: an ok reply is its outcome; another one (or none) leaves it
        /// to be sent again.
        func record(_ reply: JSONValue?, for id: String) {
            state.withLock { state in
                guard let reply, reply["ok"] == true, let version = reply["version"]?.integerValue else {
                    if let code = reply?.errorCode, !["unavailable", "outcome_unknown"].contains(code) {
                        state.problems.append("\(id): \(code)")
                    }
                    return
                }
                if let earlier = state.answered[id], earlier != version {
                    state.problems.append("\(id) answered version \(earlier), then \(version)")
                }
                if state.answered[id] != nil, reply["duplicate"] != true {
                    state.problems.append("\(id) answered again without duplicate")
                }
                if state.answered[id] == nil {
                    state.order.append(id)
                }
                state.answered[id] = version
                state.unanswered.remove(id)
            }
        }

        var answeredCount: Int { state.withLock { $0.answered.count } }
    }

    static func line(_ counter: Int, _ id: String) -> String {
        #"{"op":"execute","model":"counter","id":"c\#(counter)","command":{"type":"increment"},"command_id":"\#(id)"}"#
    }

    @Test func retriedCommandsRunExactlyOnceAcrossKills() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["SOURCED_EXACTLY_ONCE_CYCLES"] ?? "") ?? 5
        let directory = TemporaryDirectory("once")
        let ledger = Ledger()
        var daemon = try await DaemonProcess(in: directory, arguments: ["--sync", "always"])
        var retried = 0
        var committedBeforeTheKill = 0
        let setup = try await LineClient.connect(daemon.socketPath)
        for counter in 0..<Self.counters {
            _ = try await setup.request(line: #"{"op":"execute","model":"counter","id":"c\#(counter)","command":{"type":"create"}}"#)
        }
        await setup.close()

        for cycle in 1...cycles {
            let target = ledger.answeredCount + Int.random(in: 20...150)
            let socket = daemon.socketPath
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<Self.writers {
                        group.addTask {
                            guard let client = try? await LineClient.connect(socket) else { return }
                            while true {
                                let id = ledger.newID(for: Int.random(in: 0..<Self.counters))
                                let counter = ledger.state.withLock { $0.sent[id]! }
                                let reply = try? await client.request(line: Self.line(counter, id), timeout: .seconds(10))
                                ledger.record(reply, for: id)
                                if reply == nil { break }
                            }
                            await client.close()
                        }
                    }
                }
            }
            try await waitUntil(timeout: .seconds(60)) { ledger.answeredCount >= target }
            #expect(await daemon.stop(SIGKILL) == SIGKILL, "cycle \(cycle)")
            await load.value

            daemon = try await DaemonProcess(in: directory, arguments: ["--sync", "always"])
            let client = try await LineClient.connect(daemon.socketPath)
            // Every unanswered command again, with its id, until answered; and the last few
            // answered ones again (within every counter's window of 32), which must come back as
            // duplicates of their first answer.
            let (unanswered, sample) = ledger.state.withLock { state in
                (Array(state.unanswered), Array(state.order.suffix(5)))
            }
            for id in unanswered + sample {
                let counter = ledger.state.withLock { $0.sent[id]! }
                let reply = try await client.request(line: Self.line(counter, id), timeout: .seconds(30))
                #expect(reply["ok"] == true, "cycle \(cycle): \(id) retried: \(reply)")
                if sample.contains(id) {
                    #expect(reply["duplicate"] == true, "cycle \(cycle): \(id) answered before, ran again")
                } else {
                    retried += 1
                    committedBeforeTheKill += reply["duplicate"] == true ? 1 : 0
                }
                ledger.record(reply, for: id)
            }
            await client.close()
        }

        let client = try await LineClient.connect(daemon.socketPath)
        let state = ledger.state.withLock { $0 }
        #expect(state.problems.isEmpty, "\(state.problems.prefix(10))")
        #expect(state.unanswered.isEmpty)
        for counter in 0..<Self.counters {
            let ids = state.sent.filter { $0.value == counter }.map(\.key)
            let reply = try await client.request(line: #"{"op":"get","model":"counter","id":"c\#(counter)"}"#)
            #expect(reply["state"]?["count"]?.integerValue == Int64(ids.count), "c\(counter): one increment per distinct id")
            let versions = ids.compactMap { state.answered[$0] }
            #expect(Set(versions).count == ids.count && versions.count == ids.count, "c\(counter): each id its own version")
        }
        await client.close()
        #expect(await daemon.stop() == 0)
        print("exactly once: \(cycles) cycles, \(state.sent.count) ids sent, all answered once; \(retried) sent again after a kill, \(committedBeforeTheKill) of them committed before it (answered as duplicates)")
    }
}
