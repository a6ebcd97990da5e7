import Logging
import Synchronization

/// The log level every ``JournalLogHandler`` made with it follows, changeable while the process
/// runs (a configuration reload): loggers already handed out see a change at their next message.
///
/// Reading it is one relaxed atomic load, cheap enough for each message's level check.
public final class SharedLogLevel: Sendable {
    private let index: Atomic<Int>

    public init(_ level: Logger.Level) {
        index = Atomic(Self.index(of: level))
    }

    /// The level now; setting it takes effect for every logger at its next message.
    public var level: Logger.Level {
        get { Logger.Level.allCases[index.load(ordering: .relaxed)] }
        set { index.store(Self.index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of level: Logger.Level) -> Int {
        Logger.Level.allCases.firstIndex(of: level)!
    }
}
