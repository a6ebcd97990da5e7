import Glibc

/// A libpq password file (`~/.pgpass`, `PGPASSFILE`, or the `passfile` parameter): lines of
/// `hostname:port:database:username:password`, where `*` matches anything, `\:` and `\\` stand
/// for `:` and `\`, and lines starting with `#` are comments.
///
/// The password stays out of the command line, the environment and the connection string. The
/// file must be a regular file readable by its owner only (mode 0600 or stricter), as libpq
/// requires; unlike libpq, which then ignores it, Sourced refuses it, so the mistake is seen.
struct PasswordFile: Sendable {
    let path: String
    private let entries: [[String]]

    /// Reads the file at `path`; `nil` if it does not exist and `mustExist` is false.
    /// - Throws: ``PostgresStoreError/passwordFile(path:reason:)``.
    init?(path: String, mustExist: Bool) throws(PostgresStoreError) {
        self.path = path
        var status = stat()
        guard stat(path, &status) == 0 else {
            let error = errno
            if error == ENOENT, !mustExist { return nil }
            throw .passwordFile(path: path, reason: String(cString: strerror(error)))
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw .passwordFile(path: path, reason: "not a regular file")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw .passwordFile(path: path, reason: "readable by group or others; chmod 600 it")
        }
        guard let file = fopen(path, "r") else {
            throw .passwordFile(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes.append(contentsOf: chunk[0..<count])
            if count < chunk.count { break }
            guard bytes.count <= 1 << 20 else { throw .passwordFile(path: path, reason: "larger than 1 MiB") }
        }
        entries = String(decoding: bytes, as: UTF8.self)
            .split(whereSeparator: \.isNewline)
            .filter { !$0.hasPrefix("#") }
            .compactMap { Self.fields(of: $0) }
    }

    /// The password of the first line matching the connection, libpq's way: a Unix socket
    /// connection matches the hostname `localhost`.
    func password(host: String, port: Int, database: String, user: String) -> String? {
        let wanted = [host.hasPrefix("/") ? "localhost" : host, String(port), database, user]
        return entries.first { fields in
            zip(fields, wanted).allSatisfy { $0 == "*" || $0 == $1 }
        }?[4]
    }

    /// The five fields of a line, unescaped; `nil` for a line that has fewer.
    private static func fields(of line: Substring) -> [String]? {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":", fields.count < 4 {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields.count == 5 ? fields : nil
    }
}
