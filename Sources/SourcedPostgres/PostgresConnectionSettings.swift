import Glibc
import NIOCore
import PostgresNIO

/// Where and as whom the store connects, from a libpq-style connection string: a URL
/// (`postgres://sourced@/events?host=/run/postgresql`) or `key=value` pairs
/// (`host=/run/postgresql dbname=events user=sourced`).
///
/// Understood: `host` (a Unix socket directory if it starts with `/`, else a host name), `port`,
/// `user`, `dbname`, `password`, `passfile`, `connect_timeout` (seconds), `application_name`,
/// `sslmode` (`disable`, `allow` or `prefer`: TLS is not supported yet, so the connection is
/// unencrypted), `target_session_attrs` (`any` only). Anything else is refused rather than
/// ignored. Defaults as libpq's: the socket directory `/var/run/postgresql`, port 5432, the user
/// running the process, a database named like the user.
///
/// The password should not be in the string (it would show in `ps` and in shell history): it is
/// looked up, if the string has none, in the password file (``PasswordFile``) named by `passfile`,
/// else by `PGPASSFILE`, else `~/.pgpass` if that exists.
public struct PostgresConnectionSettings: Sendable, Equatable, CustomStringConvertible {
    /// A Unix socket directory (starts with `/`) or a host name or address.
    public var host: String
    public var port: Int
    public var user: String
    public var database: String
    /// The password, once resolved; never printed.
    public var password: String?
    public var connectTimeout: Duration
    public var applicationName: String?

    /// The socket directory Debian's PostgreSQL listens in.
    public static let defaultSocketDirectory = "/var/run/postgresql"

    /// Parses `string` and resolves the password.
    /// - Parameter environment: looks up `PGPASSFILE` and `HOME`; the process environment by default.
    /// - Throws: ``PostgresStoreError/invalidConnectionString(_:)`` or ``PostgresStoreError/passwordFile(path:reason:)``.
    public init(parsing string: String, environment: (String) -> String? = { getenv($0).map { String(cString: $0) } }) throws(PostgresStoreError) {
        let parameters = try Self.parameters(of: string)
        for key in parameters.keys where !Self.knownKeys.contains(key) {
            throw .invalidConnectionString("unknown parameter \"\(key)\"")
        }
        host = parameters["host"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultSocketDirectory
        guard !host.contains(",") else { throw .invalidConnectionString("several hosts are not supported yet") }
        if let port = parameters["port"], !port.isEmpty {
            guard let number = Int(port), (1...65535).contains(number) else { throw .invalidConnectionString("port \"\(port)\" is not a port number") }
            self.port = number
        } else {
            port = 5432
        }
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
        if let attributes = parameters["target_session_attrs"], attributes != "any" {
            throw .invalidConnectionString("target_session_attrs \(attributes) is not supported yet")
        }
        password = parameters["password"]
        if password == nil {
            let named = parameters["passfile"] ?? environment("PGPASSFILE")
            let path = named ?? environment("HOME").map { $0 + "/.pgpass" }
            if let path, let file = try PasswordFile(path: path, mustExist: named != nil) {
                password = file.password(host: host, port: port, database: database, user: user)
            }
        }
    }

    /// The settings as postgres-nio takes them.
    var configuration: PostgresConnection.Configuration {
        var configuration = if host.hasPrefix("/") {
            PostgresConnection.Configuration(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
        configuration.options.connectTimeout = .seconds(connectTimeout.components.seconds)
        if let applicationName {
            configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        }
        return configuration
    }

    /// The server's socket file, for a Unix socket connection: `<host>/.s.PGSQL.<port>`.
    public var socketPath: String { "\(host)/.s.PGSQL.\(port)" }

    /// Where the store connects, without the password: `user@host:port/database`.
    public var description: String { "\(user)@\(host.hasPrefix("/") ? socketPath : "\(host):\(port)")/\(database)" }

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
        if let colon = main.lastIndex(of: ":"), !main.hasPrefix("[") || main[..<colon].hasSuffix("]") {
            try fill("port", main[main.index(after: colon)...])
            main = main[..<colon]
        }
        if !main.isEmpty {
            try fill("host", main.trimmingPrefix("[").dropLast(main.hasPrefix("[") ? 1 : 0))
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
