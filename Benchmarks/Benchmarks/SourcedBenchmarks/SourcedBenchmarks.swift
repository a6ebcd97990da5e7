import Benchmark

/// Every benchmark of Sourced; see `Benchmarks/README.md` for what each measures and how to run them.
let benchmarks: @Sendable () -> Void = {
    registerRecordBenchmarks()
    registerReplayBenchmarks()
    registerCommandBenchmarks()
    registerRegistryBenchmarks()
    registerProtocolBenchmarks()
    registerMemoryBenchmarks()
}
