import Glibc
import NIOCore
import PostgresNIO

/// Where and as whom the store connects, from a libpq-style connection string: a URL
/// (`postgres://sourced@/events?host=/run/postgresql`,
/// `postgres://sourced@db1:5432,db2:5432/events?target_session_attrs=read-write`) or `key=value`
/// pairs (`host=/run/postgresql dbname=events user=sourced`).
///
/// Understood: `host` (a Unix socket directory if it starts with `/`, else a host name; several,
/// separated by commas), `port` (one for every host, or one per host), `user`, `dbname`,
/// `password`, `passfile`, `connect_timeout` (seconds, for each host tried), `application_name`,
/// `sslmode` (`disable`, `allow` or `prefer`: TLS is not supported yet, so the connection is
/// unencrypted), `target_session_attrs` (``TargetSessionAttributes``: `any`, `read-write`,
/// `read-only`, `primary`, `standby`, `prefer-standby`). Anything else is refused rather than
/// ignored. Defaults as libpq's: the socket directory `/var/run/postgresql`, port 5432, the user
/// running the process, a database named like the user.
///
/// With several hosts, a connection goes to the first one, in the order given, that answers within
/// `connect_timeout` and has the `target_session_attrs`; each new connection tries them all again
/// (``connect(eventLoopGroup:logger:role:)``), so after a failover the promoted standby is found
/// without a restart.
///
/// The password should not be in the string (it would show in `ps` and in shell history): it is
/// looked up for each host, if the string has none, in the password file (``PasswordFile``) named by
/// `passfile`, else by `PGPASSFILE`, else `~/.pgpass` if that exists.
public struct PostgresConnectionSettings: Sendable, Equatable, CustomStringConvertible {
    /// The servers to try, in order; never empty.
    public var hosts: [PostgresHost]
    public var user: String
    public var database: String
    /// How long one host may take to accept a connection, authenticate it and answer the
    /// `target_session_attrs` check.
    public var connectTimeout: Duration
    public var applicationName: String?
    /// Which servers qualify when connecting.
    public var targetSessionAttributes: TargetSessionAttributes
    /// How long a request (a commit, a read, the live feed's check) may go unanswered before its
    /// connection is closed: a server that stops answering without closing the connection
    /// (frozen, or cut off by the network) fails the request, and the next one connects again,
    /// instead of holding it forever. Not part of the connection string, which has no such
    /// keyword in libpq; `sourced --postgres-timeout` sets it. Default 60 s.
    public var requestTimeout: Duration = .seconds(60)

    /// The first host: a Unix socket directory (starts with `/`) or a host name or address.
    public var host: String {
        get { hosts[0].host }
        set { hosts[0].host = newValue }
    }

    /// The first host's port.
    public var port: Int {
        get { hosts[0].port }
        set { hosts[0].port = newValue }
    }

    /// The first host's password, once resolved; never printed. Setting it sets every host's.
    public var password: String? {
        get { hosts[0].password }
        set {
            for index in hosts.indices { hosts[index].password = newValue }
        }
    }

    /// The socket directory Debian's PostgreSQL listens in.
    public static let defaultSocketDirectory = "/var/run/postgresql"

    /// Parses `string` and resolves the passwords.
    /// - Parameter environment: looks up `PGPASSFILE` and `HOME`; the process environment by default.
    /// - Throws: ``PostgresStoreError/invalidConnectionString(_:)`` or ``PostgresStoreError/passwordFile(path:reason:)``.
    public init(parsing string: String, environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) throws(PostgresStoreError) {
        let parameters = try Self.parameters(of: string)
        for key in parameters.keys where !Self.knownKeys.contains(key) {
            throw .invalidConnectionString("unknown parameter \"\(key)\"")
        }
        hosts = try Self.hosts(parameters["host"] ?? "", ports: parameters["port"] ?? "")
        guard let user = parameters["user"].flatMap({ $0.isEmpty ? nil : $0 }) ?? Self.processUser() else {
            throw .invalidConnectionString("no user given and the process's user has no name")
        }
        self.user = user
        database = parameters["dbname"].flatMap { $0.isEmpty ? nil : $0 } ?? user
        if let timeout = parameters["connect_timeout"] {
            guard let seconds = Int(timeout), seconds > 0 else { throw .invalidConnectionString("connect_timeout \"\(timeout)\" is not a positive number of seconds") }
            connectTimeout = .seconds(seconds)
        } else {
            connectTimeout = .seconds(10)
        }
        applicationName = parameters["application_name"]
        if let mode = parameters["sslmode"], !["disable", "allow", "prefer"].contains(mode) {
            throw .invalidConnectionString("sslmode \(mode) needs TLS, which is not supported yet (use a Unix socket, or sslmode=disable on a trusted network)")
        }
        let attributes = parameters["target_session_attrs"] ?? "any"
        guard let target = TargetSessionAttributes(rawValue: attributes) else {
            let known = TargetSessionAttributes.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidConnectionString("target_session_attrs \"\(attributes)\" is not one of \(known)")
        }
        targetSessionAttributes = target
        if let password = parameters["password"] {
            self.password = password
        } else {
            let named = parameters["passfile"] ?? environment("PGPASSFILE")
            let path = named ?? environment("HOME").map { $0 + "/.pgpass" }
            if let path, let file = try PasswordFile(path: path, mustExist: named != nil) {
                for index in hosts.indices {
                    hosts[index].password = file.password(host: hosts[index].host, port: hosts[index].port, database: database, user: user)
                }
            }
        }
    }

    /// The settings as postgres-nio takes them, for connecting to `server`.
    func configuration(for server: PostgresHost) -> PostgresConnection.Configuration {
        var configuration = if server.isUnixSocket {
            PostgresConnection.Configuration(unixSocketPath: server.socketPath, username: user, password: server.password, database: database)
        } else {
            PostgresConnection.Configuration(host: server.host, port: server.port, username: user, password: server.password, database: database, tls: .disable)
        }
        configuration.options.connectTimeout = connectTimeoutAmount
        if let applicationName {
            configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        }
        return configuration
    }

    /// ``connectTimeout`` as NIO takes it.
    var connectTimeoutAmount: TimeAmount {
        .nanoseconds(connectTimeout.components.seconds * 1_000_000_000 + connectTimeout.components.attoseconds / 1_000_000_000)
    }


    /// The first host's socket file, for a Unix socket connection: `<host>/.s.PGSQL.<port>`.
    public var socketPath: String { hosts[0].socketPath }

    /// Where the store connects, without the password: `user@host:port/database`, with every
    /// host, comma-separated, when there are several.
    public var description: String { "\(user)@\(hosts.map(\.description).joined(separator: ","))/\(database)" }

    /// The hosts of comma-separated `host` and `port` lists, as libpq pairs them: an empty host is
    /// the default socket directory, an empty port 5432, and one port serves every host.
    private static func hosts(_ hostList: String, ports portList: String) throws(PostgresStoreError) -> [PostgresHost] {
        let names = hostList.split(separator: ",", omittingEmptySubsequences: false).map { $0.isEmpty ? defaultSocketDirectory : String($0) }
        let portTexts = portList.split(separator: ",", omittingEmptySubsequences: false)
        guard portTexts.count == 1 || portTexts.count == names.count else {
            throw .invalidConnectionString("\(portTexts.count) ports for \(names.count) hosts: give one port for all hosts or one per host")
        }
        var ports: [Int] = []
        for text in portTexts {
            if text.isEmpty {
                ports.append(5432)
            } else {
                guard let number = Int(text), (1...65535).contains(number) else { throw .invalidConnectionString("port \"\(text)\" is not a port number") }
                ports.append(number)
            }
        }
        return names.enumerated().map { index, name in PostgresHost(host: name, port: ports.count == 1 ? ports[0] : ports[index]) }
    }

    private static let knownKeys: Set<String> = [
        "host", "port", "user", "dbname", "password", "passfile", "connect_timeout", "application_name", "sslmode", "target_session_attrs",
    ]

    private static func processUser() -> String? {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return nil }
        return String(cString: name)
    }

    private static func parameters(of string: String) throws(PostgresStoreError) -> [String: String] {
        for scheme in ["postgresql://", "postgres://"] where string.hasPrefix(scheme) {
            return try urlParameters(String(string.dropFirst(scheme.count)))
        }
        return try keywordParameters(string)
    }

    /// `[user[:password]@][host][:port][/dbname][?key=value&...]`, percent-decoded.
    private static func urlParameters(_ rest: String) throws(PostgresStoreError) -> [String: String] {
        var parameters: [String: String] = [:]
        /// The query parameters win over the URL's parts.
        func fill(_ key: String, _ text: Substring) throws(PostgresStoreError) {
            if parameters[key] == nil { parameters[key] = try percentDecoded(text) }
        }
        var main = Substring(rest)
        if let question = main.firstIndex(of: "?") {
            for pair in main[main.index(after: question)...].split(separator: "&") {
                guard let equals = pair.firstIndex(of: "=") else { throw .invalidConnectionString("query parameter \"\(pair)\" has no value") }
                parameters[try percentDecoded(pair[..<equals])] = try percentDecoded(pair[pair.index(after: equals)...])
            }
            main = main[..<question]
        }
        if let slash = main.firstIndex(of: "/") {
            try fill("dbname", main[main.index(after: slash)...])
            main = main[..<slash]
        }
        if let at = main.lastIndex(of: "@") {
            let userInfo = main[..<at]
            if let colon = userInfo.firstIndex(of: ":") {
                try fill("user", userInfo[..<colon])
                try fill("password", userInfo[userInfo.index(after: colon)...])
            } else {
                try fill("user", userInfo)
            }
            main = main[main.index(after: at)...]
        }
        // Hosts, each with an optional port: `h1:p1,h2,[::1]:p3`.
        if !main.isEmpty {
            var hosts: [String] = []
            var ports: [String] = []
            for element in main.split(separator: ",", omittingEmptySubsequences: false) {
                var host = element
                var port: Substring = ""
                if let colon = element.lastIndex(of: ":"), !element.hasPrefix("[") || element[..<colon].hasSuffix("]") {
                    port = element[element.index(after: colon)...]
                    host = element[..<colon]
                }
                hosts.append(try percentDecoded(host.trimmingPrefix("[").dropLast(host.hasPrefix("[") ? 1 : 0)))
                ports.append(try percentDecoded(port))
            }
            // Already decoded: set as they are, unless the query named them.
            if parameters["host"] == nil { parameters["host"] = hosts.joined(separator: ",") }
            if parameters["port"] == nil, ports.contains(where: { !$0.isEmpty }) { parameters["port"] = ports.joined(separator: ",") }
        }
        return parameters.filter { !$0.value.isEmpty }
    }

    /// `key = value` pairs separated by spaces; a value may be single-quoted, with `\'` and `\\`.
    private static func keywordParameters(_ string: String) throws(PostgresStoreError) -> [String: String] {
        var parameters: [String: String] = [:]
        var characters = Substring(string)
        func skipSpaces() { characters = characters.drop { $0 == " " || $0 == "\t" || $0 == "\n" } }
        skipSpaces()
        while !characters.isEmpty {
            let key = characters.prefix { $0 != "=" && $0 != " " && $0 != "\t" }
            characters = characters.dropFirst(key.count)
            skipSpaces()
            guard characters.first == "=", !key.isEmpty else {
                throw .invalidConnectionString("expected key=value at \"\(key)\" (or a postgres:// URL)")
            }
            characters = characters.dropFirst()
            skipSpaces()
            var value = ""
            if characters.first == "'" {
                characters = characters.dropFirst()
                var closed = false
                while let character = characters.popFirst() {
                    if character == "\\", let next = characters.popFirst() {
                        value.append(next)
                    } else if character == "'" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { throw .invalidConnectionString("unterminated quoted value of \"\(key)\"") }
            } else {
                while let character = characters.first, character != " ", character != "\t", character != "\n" {
                    characters = characters.dropFirst()
                    if character == "\\", let next = characters.popFirst() {
                        value.append(next)
                    } else {
                        value.append(character)
                    }
                }
            }
            parameters[String(key)] = value
            skipSpaces()
        }
        return parameters
    }

    private static func percentDecoded(_ text: Substring) throws(PostgresStoreError) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) else {
                throw .invalidConnectionString("bad percent-encoding in \"\(text)\"")
            }
            bytes.append(value)
            utf8 = utf8.dropFirst(2)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw .invalidConnectionString("\"\(text)\" is not UTF-8 once decoded") }
        return decoded
    }
}
