/// The file systems on which `syncfs(2)` cannot be trusted to reach the storage, by the magic
/// number `statfs(2)` reports in `f_type`.
///
/// FUSE forwards `syncfs` to almost no server, and network file systems write back on their own
/// terms: there `syncfs` can return 0 with the data still only in memory, so the store makes
/// aggregate logs durable with an `fdatasync` of each instead (`docs/storage-format.md`).
public enum FileSystemMagic {
    /// The distrusted file systems, with the name a message uses.
    static let distrusted: [UInt32: String] = [
        0x6573_5546: "fuse",
        0x0000_6969: "nfs",
        0x0000_517B: "smb",
        0xFF53_4D42: "cifs",
        0xFE53_4D42: "smb2",
        0x0102_1997: "9p",
        0x00C3_6400: "ceph",
        0x5346_414F: "afs",
        0x6B41_4653: "kafs",
        0x7375_7245: "coda",
        0x0000_564C: "ncp",
        0x0BD0_0BD0: "lustre",
        0x2003_0528: "orangefs",
    ]

    /// Why `syncfs` cannot be trusted on a file system whose magic is `magic` (`nil`: `fstatfs`
    /// failed, so the type is unknown), or `nil` if it can.
    public static func syncfsDistrust(_ magic: UInt32?) -> String? {
        guard let magic else { return "its file system type is unknown (fstatfs failed)" }
        return distrusted[magic].map { "it lies on \($0), whose syncfs does not reliably reach the storage" }
    }
}
