import SourcedJSON
import SourcedTestSupport
import Testing

/// Two daemons sharing one PostgreSQL database (`sourced --postgres`): they race on the same
/// aggregate version, and each serves what the other wrote.
@Suite(.postgresCluster) struct SharedPostgresTests {
    /// Two daemons on a fresh database of the suite's cluster.
    func twoDaemons() async throws -> (DaemonProcess, DaemonProcess) {
        let cluster = try #require(PostgresClusterTrait.current)
        let database = try await cluster.freshDatabase()
        let first = try await DaemonProcess(arguments: ["--postgres", database, "--threads", "1"], logLevel: "info")
        let second = try await DaemonProcess(arguments: ["--postgres", database, "--threads", "1"], logLevel: "info")
        return (first, second)
    }

    /// The version `client`'s daemon reports for the race counter once it reports `version`;
    /// another daemon's chains reach it through its feed.
    func waitForVersion(_ version: Int64, on client: LineClient) async throws {
        try await waitUntil(timeout: .seconds(60)) {
            try await client.request(line: #"{"op":"get","model":"counter","id":"race"}"#)["version"]?.integerValue == version
        }
    }

    @Test func twoDaemonsRacingForOneVersionAThousandTimesBothSucceedOneAfterTheOther() async throws {
        let (first, second) = try await twoDaemons()
        let a = try await LineClient.connect(first.socketPath)
        let b = try await LineClient.connect(second.socketPath)
        #expect(try await a.request(line: #"{"op":"execute","model":"counter","id":"race","commands":[{"type":"create"}]}"#)["ok"] == true)
        var version: Int64 = 1
        var firstWins = 0
        for round in 0..<1000 {
            // Both daemons hold the counter at `version`: each decides the same next version.
            try await waitForVersion(version, on: a)
            try await waitForVersion(version, on: b)
            let line = #"{"op":"execute","model":"counter","id":"race","commands":[{"type":"increment"}],"command_id":"r\#(round)-%"}"#
            try await a.send(line.replacingOccurrences(of: "%", with: "a"))
            try await b.send(line.replacingOccurrences(of: "%", with: "b"))
            let (fromA, fromB) = (try await a.readReply(), try await b.readReply())
            #expect(fromA["ok"] == true && fromB["ok"] == true, "round \(round): \(fromA) \(fromB)")
            let versions = [fromA["version"]?.integerValue ?? 0, fromB["version"]?.integerValue ?? 0]
            #expect(versions.sorted() == [version + 1, version + 2], "round \(round): one wins version \(version + 1), the other follows it")
            if versions[0] == version + 1 { firstWins += 1 }
            version += 2
        }
        let statsA = try await a.request(line: #"{"op":"stats"}"#)
        let statsB = try await b.request(line: #"{"op":"stats"}"#)
        let retries = (statsA["stats"]?["stale_retries"]?.integerValue ?? 0) + (statsB["stats"]?["stale_retries"]?.integerValue ?? 0)
        print("two daemons, 1000 rounds: the first daemon won \(firstWins), stale retries \(retries)")
        #expect(retries >= 1, "the losers found their version taken and decided again")

        // The global stream: every chain once, positions without a gap, versions in order.
        try await a.send(#"{"op":"subscribe","from":0}"#)
        #expect(try await a.readReply()["subscribed"] == true)
        for expected in 1...2001 {
            let event = try await a.readReply()
            #expect(event["position"]?.integerValue == Int64(expected) && event["version"]?.integerValue == Int64(expected))
        }
        await a.close()
        await b.close()
    }

    @Test func optionsOfTheOtherStoreAreReportedUnused() async throws {
        let cluster = try #require(PostgresClusterTrait.current)
        let daemon = try await DaemonProcess(arguments: [
            "--postgres", try await cluster.freshDatabase(), "--retain-global", "1MiB", "--sync", "none", "--postgres-timeout", "5",
        ], logLevel: "info")
        #expect(await LineClient.answersPing(at: daemon.socketPath))
        #expect(await daemon.stop() == 0)
        let log = daemon.log
        #expect(log.contains("--retain-global is not used: chains live in PostgreSQL"), "\(log)")
        #expect(log.contains("--sync is not used: chains live in PostgreSQL"), "\(log)")
        #expect(!log.contains("--segment-size is not used") && !log.contains("--postgres-timeout is not used"), "only what was given: \(log)")

        // And the other way round: the PostgreSQL store's timeout on the local logs.
        let local = try await DaemonProcess(arguments: ["--postgres-timeout", "5"], logLevel: "info")
        #expect(await local.stop() == 0)
        #expect(local.log.contains("--postgres-timeout is not used: chains live in the data directory"), "\(local.log)")
    }

    @Test func aDaemonServesWhatAnotherWrote() async throws {
        let (first, second) = try await twoDaemons()
        let a = try await LineClient.connect(first.socketPath)
        let b = try await LineClient.connect(second.socketPath)
        #expect(try await a.request(line: #"{"op":"execute","model":"counter","id":"race","commands":[{"type":"create"}]}"#)["ok"] == true)
        try await waitForVersion(1, on: b)
        for version in 2...20 {
            let writer = version % 2 == 0 ? a : b
            let reader = version % 2 == 0 ? b : a
            let reply = try await writer.request(line: #"{"op":"execute","model":"counter","id":"race","commands":[{"type":"increment"}]}"#)
            #expect(reply["version"]?.integerValue == Int64(version))
            try await waitForVersion(Int64(version), on: reader)
        }
        let listed = try await b.request(line: #"{"op":"list","model":"counter"}"#)
        #expect(listed["ids"] == ["race"])
        await a.close()
        await b.close()
    }
}
