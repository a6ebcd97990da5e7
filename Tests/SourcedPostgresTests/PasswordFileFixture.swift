import Foundation
import SourcedTestSupport

/// Writes a libpq password file holding `text` into `directory` with `mode` (0600, as libpq
/// requires, unless a test wants it unsafe) and returns its path.
func writePasswordFile(_ text: String, in directory: TemporaryDirectory, mode: mode_t = 0o600) throws -> String {
    let path = directory.file("pgpass")
    try write(Array(text.utf8), to: path)
    guard chmod(path, mode) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM) }
    return path
}
