import Glibc

/// The Lua models of a directory: every `*.lua` file directly in it, in name order.
public enum LuaModelDirectory {
    /// Loads and checks every model of the directory at `path`.
    ///
    /// A program of `previous` whose file still holds the same source, under the same limits, is
    /// returned as it is rather than loaded again: a reload keeps the identity (and the threads'
    /// Lua states) of the models it does not change.
    ///
    /// - Throws: ``LuaModelError`` for the first file that cannot be read or is not a valid model;
    ///   nothing is loaded then.
    public static func load(_ path: String, limits: LuaLimits = .default, reusing previous: [LuaProgram] = []) throws(LuaModelError) -> [LuaProgram] {
        let previous = Dictionary(previous.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        return try files(in: path).map { (file) throws(LuaModelError) in
            let full = "\(path)/\(file)"
            let source: String
            do throws(ReadError) {
                source = try read(full)
            } catch {
                throw .unreadableFile(path: full, reason: String(cString: strerror(error.code)))
            }
            if let program = previous[full], program.source == source, program.limits == limits {
                return program
            }
            return try LuaProgram(source: source, path: full, limits: limits)
        }
    }

    /// The names of the `*.lua` files of the directory, sorted.
    private static func files(in path: String) throws(LuaModelError) -> [String] {
        guard let directory = opendir(path) else {
            throw .unreadableDirectory(path: path, reason: String(cString: strerror(errno)))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasSuffix(".lua"), !name.hasPrefix(".") {
                names.append(name)
            }
        }
        return names.sorted()
    }

    private struct ReadError: Error {
        var code: Int32
    }

    private static func read(_ path: String) throws(ReadError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ReadError(code: errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(code: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
