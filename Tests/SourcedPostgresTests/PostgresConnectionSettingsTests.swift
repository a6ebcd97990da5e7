import Foundation
import SourcedPostgres
import SourcedTestSupport
import Testing

struct PostgresConnectionSettingsTests {
    private let noEnvironment: (String) -> String? = { _ in nil }

    @Test func aURLWithASocketDirectory() throws {
        let settings = try PostgresConnectionSettings(parsing: "postgres://sourced@/events?host=/tmp/pg&application_name=sourced", environment: noEnvironment)
        #expect(settings.host == "/tmp/pg" && settings.port == 5432 && settings.user == "sourced" && settings.database == "events")
        #expect(settings.socketPath == "/tmp/pg/.s.PGSQL.5432")
        #expect(settings.applicationName == "sourced" && settings.password == nil)
        #expect("\(settings)" == "sourced@/tmp/pg/.s.PGSQL.5432/events")
    }

    @Test func aURLWithHostPortAndEncodedParts() throws {
        let settings = try PostgresConnectionSettings(parsing: "postgresql://ada:s%40cret@db.example:6432/my%20db?connect_timeout=3", environment: noEnvironment)
        #expect(settings.host == "db.example" && settings.port == 6432 && settings.user == "ada" && settings.database == "my db")
        #expect(settings.password == "s@cret" && settings.connectTimeout == .seconds(3))
        #expect(!"\(settings)".contains("s@cret"))
        let socket = try PostgresConnectionSettings(parsing: "postgresql://%2Fvar%2Frun%2Fpg:5433/x?user=u", environment: noEnvironment)
        #expect(socket.socketPath == "/var/run/pg/.s.PGSQL.5433" && socket.user == "u")
        let ipv6 = try PostgresConnectionSettings(parsing: "postgres://u@[::1]:7000/d", environment: noEnvironment)
        #expect(ipv6.host == "::1" && ipv6.port == 7000)
    }

    @Test func keywordValuePairs() throws {
        let settings = try PostgresConnectionSettings(
            parsing: "host=/run/postgresql  dbname = 'event store' user=sourced application_name='it\\'s'", environment: noEnvironment
        )
        #expect(settings.host == "/run/postgresql" && settings.database == "event store" && settings.user == "sourced")
        #expect(settings.applicationName == "it's")
    }

    @Test func defaults() throws {
        let settings = try PostgresConnectionSettings(parsing: "user=ada", environment: noEnvironment)
        #expect(settings.host == PostgresConnectionSettings.defaultSocketDirectory && settings.port == 5432 && settings.database == "ada")
    }

    @Test(arguments: [
        "postgres://u@/d?sslmode=require", "host=/x bogus=1", "host", "dbname='open",
        "postgres://u@/d?target_session_attrs=read_write", "port=0", "postgres://u@/d?x", "postgres://u@/d%zz",
        "host=a,b,c port=1,2", "host=a,b port=1,x", "postgres://u@a:1,b:0/d",
    ])
    func refused(_ string: String) {
        #expect(throws: PostgresStoreError.self) { try PostgresConnectionSettings(parsing: string, environment: { _ in nil }) }
    }

    @Test func thePasswordComesFromThePasswordFile() throws {
        // Kept until the test ends: the directory goes with it.
        let directory = TemporaryDirectory()
        let path = try writePasswordFile("# comment\nother:*:*:*:no\nlocalhost:5432:events:sourced:pa\\:ss\n*:*:*:sourced:fallback\n", in: directory)
        let socket = try PostgresConnectionSettings(parsing: "postgres://sourced@/events?host=/tmp/pg&passfile=\(path)", environment: noEnvironment)
        #expect(socket.password == "pa:ss")
        let environment: (String) -> String? = { $0 == "PGPASSFILE" ? path : nil }
        let otherDatabase = try PostgresConnectionSettings(parsing: "host=/tmp/pg dbname=x user=sourced", environment: environment)
        #expect(otherDatabase.password == "fallback")
        let inString = try PostgresConnectionSettings(parsing: "host=/tmp/pg user=sourced password=given passfile=\(path)", environment: noEnvironment)
        #expect(inString.password == "given")
    }

    @Test func aPasswordFileOthersCanReadIsRefused() throws {
        let directory = TemporaryDirectory()
        let path = try writePasswordFile("*:*:*:*:secret\n", in: directory, mode: 0o644)
        #expect(throws: PostgresStoreError.passwordFile(path: path, reason: "readable by group or others; chmod 600 it")) {
            try PostgresConnectionSettings(parsing: "host=/tmp user=u passfile=\(path)", environment: { _ in nil })
        }
        #expect(throws: PostgresStoreError.self) {
            try PostgresConnectionSettings(parsing: "host=/tmp user=u passfile=\(directory.file("missing"))", environment: { _ in nil })
        }
        // The default ~/.pgpass may be missing.
        #expect(try PostgresConnectionSettings(parsing: "user=u", environment: { $0 == "HOME" ? directory.path : nil }).password == nil)
    }
}
