import Foundation
import SourcedPostgres
import SourcedTestSupport
import Testing

/// Several hosts in one connection string, as libpq reads them.
struct PostgresMultiHostSettingsTests {
    private let noEnvironment: (String) -> String? = { _ in nil }

    @Test func keywordHostsWithOnePortForAllOrOnePerHost() throws {
        let shared = try PostgresConnectionSettings(parsing: "host=db1,db2,db3 port=6432 user=u dbname=d", environment: noEnvironment)
        #expect(shared.hosts == [PostgresHost(host: "db1", port: 6432), PostgresHost(host: "db2", port: 6432), PostgresHost(host: "db3", port: 6432)])
        let each = try PostgresConnectionSettings(parsing: "host=db1,,db3 port=5433,,5435 user=u target_session_attrs=read-write", environment: noEnvironment)
        #expect(each.hosts.map(\.host) == ["db1", PostgresConnectionSettings.defaultSocketDirectory, "db3"])
        #expect(each.hosts.map(\.port) == [5433, 5432, 5435])
        #expect(each.targetSessionAttributes == .readWrite)
        // The single-host properties are the first host's.
        #expect(each.host == "db1" && each.port == 5433)
        #expect("\(each)" == "u@db1:5433,/var/run/postgresql/.s.PGSQL.5432,db3:5435/u")
    }

    @Test func socketDirectoriesAsHostsSelectTheSocketFileByPort() throws {
        let settings = try PostgresConnectionSettings(parsing: "host=/tmp/s1,/tmp/s2 port=5434,5435 user=u target_session_attrs=primary", environment: noEnvironment)
        #expect(settings.hosts.map(\.socketPath) == ["/tmp/s1/.s.PGSQL.5434", "/tmp/s2/.s.PGSQL.5435"])
        #expect(settings.hosts.allSatisfy(\.isUnixSocket) && settings.targetSessionAttributes == .primary)
        let query = try PostgresConnectionSettings(parsing: "postgres://u@/d?host=/tmp/s1,/tmp/s2&port=7,8&target_session_attrs=standby", environment: noEnvironment)
        #expect(query.hosts.map(\.socketPath) == ["/tmp/s1/.s.PGSQL.7", "/tmp/s2/.s.PGSQL.8"] && query.targetSessionAttributes == .standby)
    }

    @Test func urlHostsEachWithItsPort() throws {
        let settings = try PostgresConnectionSettings(
            parsing: "postgres://ada@h1:5433,h2,[::1]:5435,%2Ftmp%2Fs4:5436/events?target_session_attrs=read-write&connect_timeout=2", environment: noEnvironment
        )
        #expect(settings.hosts.map(\.host) == ["h1", "h2", "::1", "/tmp/s4"])
        #expect(settings.hosts.map(\.port) == [5433, 5432, 5435, 5436])
        #expect(settings.user == "ada" && settings.database == "events" && settings.connectTimeout == .seconds(2))
        #expect("\(settings)" == "ada@h1:5433,h2:5432,[::1]:5435,/tmp/s4/.s.PGSQL.5436/events")
        // The query's host and port replace the URL's.
        let replaced = try PostgresConnectionSettings(parsing: "postgres://ada@h1:1,h2:2/e?host=h3,h4&port=3", environment: noEnvironment)
        #expect(replaced.hosts == [PostgresHost(host: "h3", port: 3), PostgresHost(host: "h4", port: 3)])
    }

    @Test(arguments: TargetSessionAttributes.allCases)
    func everyTargetSessionAttributeParses(_ attributes: TargetSessionAttributes) throws {
        let settings = try PostgresConnectionSettings(parsing: "host=a,b user=u target_session_attrs=\(attributes.rawValue)", environment: noEnvironment)
        #expect(settings.targetSessionAttributes == attributes)
    }

    @Test func anUnknownTargetSessionAttributeNamesTheKnownOnes() {
        #expect(
            throws: PostgresStoreError.invalidConnectionString(
                "target_session_attrs \"writable\" is not one of any, read-write, read-only, primary, standby, prefer-standby"
            )
        ) { try PostgresConnectionSettings(parsing: "user=u target_session_attrs=writable", environment: { _ in nil }) }
        #expect(throws: PostgresStoreError.invalidConnectionString("2 ports for 3 hosts: give one port for all hosts or one per host")) {
            try PostgresConnectionSettings(parsing: "host=a,b,c port=1,2 user=u", environment: { _ in nil })
        }
    }

    @Test func thePasswordFileIsSearchedForEachHost() throws {
        // Kept until the test ends: the directory goes with it.
        let directory = TemporaryDirectory()
        let path = try writePasswordFile("db1:5432:*:u:one\ndb2:5433:*:u:two\nlocalhost:5434:*:u:socket\n", in: directory)
        let settings = try PostgresConnectionSettings(parsing: "host=db1,db2,/tmp/s,db9 port=5432,5433,5434,5432 user=u passfile=\(path)", environment: noEnvironment)
        #expect(settings.hosts.map(\.password) == ["one", "two", "socket", nil])
        // A password in the string is every host's.
        let given = try PostgresConnectionSettings(parsing: "host=db1,db2 user=u password=p passfile=\(path)", environment: noEnvironment)
        #expect(given.hosts.map(\.password) == ["p", "p"])
    }
}
