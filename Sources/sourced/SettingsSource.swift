import ArgumentParser

/// Where the daemon's settings come from: its flags and environment, fixed at start, and the
/// configuration file they name (`--config`, `SOURCED_CONFIG`), read again on each reload.
struct SettingsSource: Sendable {
    var flags: Sourced
    var environment: [String: String]

    /// The configuration file, or `nil` if none is named (a reload then has nothing to read).
    var configurationPath: String? {
        flags.config ?? environment["SOURCED_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The settings as the flags, the environment and the file say now.
    /// - Throws: ``ConfigurationFileError`` if the file cannot be read or parsed, `ValidationError`
    ///   for a bad value; each message names the file's line where the value comes from there.
    func load() throws -> DaemonSettings {
        let keys = Set(DaemonSettings.fields.map(\.name))
        let file = try configurationPath.map { path throws(ConfigurationFileError) in try ConfigurationFile.read(path, keys: keys) }
        return try DaemonSettings(flags, environment: environment, file: file)
    }
}
