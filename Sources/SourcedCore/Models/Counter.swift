/// The counter of the seed design: created once, then incremented one at a time.
public enum Counter: AggregateModel {
    public struct State: Codable, Sendable, Equatable {
        public var count: Int

        public init(count: Int) {
            self.count = count
        }
    }

    public enum Command: Codable, Sendable, Equatable {
        case create
        case increment
    }

    public enum Event: Codable, Sendable, Equatable {
        case created
        /// Carries the new count, so a reader of the log needs no arithmetic.
        case incremented(count: Int)
    }

    public static let name = "counter"

    public static let commands = [
        CommandDescription("create", summary: "Creates the counter at 0; rejected if it exists."),
        CommandDescription("increment", summary: "Adds 1; rejected unless the counter was created."),
    ]

    public static func decide(_ command: Command, state: State?) throws(Rejection) -> [Event] {
        switch command {
        case .create:
            guard state == nil else { throw Rejection("already created") }
            return [.created]
        case .increment:
            guard let state else { throw Rejection("not created") }
            let (next, overflow) = state.count.addingReportingOverflow(1)
            guard !overflow else { throw Rejection("count would overflow") }
            return [.incremented(count: next)]
        }
    }

    public static func evolve(_ state: State?, with event: Event) -> State {
        switch event {
        case .created: State(count: 0)
        case .incremented(let count): State(count: count)
        }
    }
}
