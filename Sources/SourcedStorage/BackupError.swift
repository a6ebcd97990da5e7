/// Why ``OnlineBackup`` made no usable copy, with what to do about it. (A failed system call is a
/// ``StorageError``.)
public enum BackupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The source has no `LOCK` file: it is no sourced data directory.
    case notADataDirectory(path: String)
    /// The source holds a `global.log` from a build before global segments.
    case unsegmentedGlobalLog(path: String)
    /// The destination exists and holds something.
    case destinationNotEmpty(path: String)
    /// A global segment of the source cannot be copied whole: damaged before its end. The copy
    /// is incomplete.
    case sourceDamaged(path: String, offset: Int, reason: String)
    /// Global segments written during the backup were deleted by retention before they could be
    /// held open: the copy would miss the chains between `after` and `next`.
    case segmentsDeleted(after: UInt64, next: UInt64)
    /// The copy is complete, but holds damage of the source that no intact copy covers, or
    /// records that disagree with the global log: `findings` as `sourced check` words them.
    case copyDoesNotVerify(destination: String, findings: [String])

    public var description: String {
        switch self {
        case .notADataDirectory(let path):
            "\(path) is not a sourced data directory (it has no LOCK file); give the daemon's --data-dir"
        case .unsegmentedGlobalLog(let path):
            "\(path) was written by a sourced before global segments; start this sourced on the data directory once (it moves the file into global/), then back up"
        case .destinationNotEmpty(let path):
            "\(path) is not empty; back up into a new or empty directory"
        case .sourceDamaged(let path, let offset, let reason):
            "\(path) cannot be copied: at offset \(offset), \(reason); the copy is incomplete: stop sourced and run sourced check on the data directory"
        case .segmentsDeleted(let after, let next):
            "the global log's segments after position \(after) and before position \(next) were deleted by retention (--retain-global) while the backup ran; back up again, or keep more of the global log"
        case .copyDoesNotVerify(let destination, let findings):
            "the copy in \(destination) is complete but does not verify, because the data directory does not:\n"
                + findings.joined(separator: "\n")
                + "\nstop sourced and run sourced check on the data directory"
        }
    }
}
