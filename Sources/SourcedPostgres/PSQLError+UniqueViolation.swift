import PostgresNIO

extension PSQLError {
    /// Whether the server refused a row because it duplicates a key of `constraint` (SQLSTATE 23505).
    func isUniqueViolation(of constraint: String) -> Bool {
        code == .server && serverInfo?[.sqlState] == "23505" && serverInfo?[.constraintName] == constraint
    }
}
