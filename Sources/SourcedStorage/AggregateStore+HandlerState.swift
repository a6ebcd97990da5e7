import Glibc

/// Saved state of in-process event handlers: `handlers/<name>.state`, one file per handler.
///
/// Layout, little-endian: `u64 position | u32 CRC-32C of the position bytes and the state | state`.
/// A file is replaced atomically (written beside, synced, renamed, directory synced), so it always
/// holds a complete checkpoint; one that does not verify reads as none.
extension AggregateStore {
    /// The position and state a handler saved last, or `nil` if it saved none.
    public func readHandlerState(_ name: String) async throws -> (position: UInt64, state: [UInt8])? {
        let path = handlerStatePath(name)
        return try await run {
            let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                guard errno == ENOENT else { throw StorageError.io(operation: "open", path: path, errno: errno) }
                return nil
            }
            defer { close(descriptor) }
            let bytes = try self.readAll(descriptor, path)
            guard bytes.count >= 12 else { return nil }
            let (position, checksum) = bytes.withUnsafeBytes { ($0.loadLE(UInt64.self, at: 0), $0.loadLE(UInt32.self, at: 8)) }
            var crc = CRC32C()
            crc.update(bytes[0..<8])
            crc.update(bytes[12...])
            guard crc.value == checksum else {
                self.logger.warning("handler state does not verify; rebuilding from position 0", metadata: ["path": "\(path)"])
                return nil
            }
            return (position, Array(bytes[12...]))
        }
    }

    /// Replaces a handler's saved position and state, atomically and durably.
    public func writeHandlerState(_ name: String, position: UInt64, state: [UInt8]) async throws {
        let path = handlerStatePath(name)
        let directory = self.directory.path + "/handlers"
        try await run {
            try self.checkRunning()
            if mkdir(directory, 0o750) == 0 {
                try self.syncDirectory(self.directory.path)
            } else if errno != EEXIST {
                throw StorageError.io(operation: "mkdir", path: directory, errno: errno)
            }
            var bytes = withUnsafeBytes(of: position.littleEndian) { Array($0) }
            var crc = CRC32C()
            crc.update(bytes)
            crc.update(state)
            withUnsafeBytes(of: crc.value.littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: state)
            let temporary = path + ".new"
            let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else { throw StorageError.io(operation: "create", path: temporary, errno: errno) }
            defer { close(descriptor) }
            try self.write(bytes, to: descriptor, at: 0, temporary)
            if self.configuration.sync != .none {
                try self.sync(descriptor, temporary)
            }
            guard rename(temporary, path) == 0 else { throw StorageError.io(operation: "rename", path: temporary, errno: errno) }
            if self.configuration.sync != .none {
                try self.syncDirectory(directory)
            }
        }
    }

    private func handlerStatePath(_ name: String) -> String {
        directory.path + "/handlers/" + name + ".state"
    }

    func syncDirectory(_ path: String) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw StorageError.io(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        try sync(descriptor, path, fullSync: true)
    }
}
