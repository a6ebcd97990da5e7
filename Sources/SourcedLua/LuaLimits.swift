/// What one Lua model may use: memory per Lua state and instructions per call.
public struct LuaLimits: Hashable, Sendable {
    /// The most bytes one Lua state may allocate: the model's code, its globals and the tables of
    /// the call running. An allocation beyond it fails, and the call with it.
    public var memory: Int
    /// The most Lua VM instructions one call of `decide` or `evolve` may run, counted in steps of
    /// 1000.
    public var instructions: Int

    /// 32 MiB and 10 million instructions (about 50 ms of plain Lua on one core).
    public static let `default` = LuaLimits(memory: 32 << 20, instructions: 10_000_000)

    public init(memory: Int, instructions: Int) {
        self.memory = memory
        self.instructions = instructions
    }
}
