import NIOCore
import SourcedEngine
import SourcedJSON
import SourcedStorage
import SourcedWire

/// A subscription as the lines its connection receives: one line per event,
/// `{"position":P,"model":M,"id":I,"version":V,"type":T,"data":{...},"timestamp":µs,
/// "event_index":i,"event_count":n}` (the events of one chain share its position; `event_index`
/// counts them from 0), and a final `fell_behind` error line if the subscriber could not keep up.
struct EventStream: Sendable {
    let subscription: Subscription

    init(_ subscription: Subscription) {
        self.subscription = subscription
    }

    /// Chains turned into lines at once: a catching-up subscriber gets them in writes of this
    /// many chains.
    static let batch = 256

    /// The lines of the next committed chains that pass the filter (as many as are ready, up to
    /// ``batch``), in one buffer, or `nil` when the stream ends; after a final error line the
    /// stream also ends.
    func nextLines() async -> ByteBuffer? {
        do {
            guard let chains = try await subscription.nextChains(maximum: Self.batch) else { return nil }
            var buffer = ByteBuffer()
            for chain in chains {
                for line in Self.lines(chain) {
                    buffer.writeImmutableBuffer(line)
                }
            }
            return buffer
        } catch let error as SubscriptionError {
            let failure = switch error {
            case .fellBehind(let resumeFrom, _):
                ProtocolError(.fellBehind, error.description, details: ["resume_from": .integer(Int64(clamping: resumeFrom))])
            case .positionDropped(let earliest):
                ProtocolError(.positionDropped, error.description, details: ["earliest": .integer(Int64(clamping: earliest))])
            }
            subscription.cancel()
            return Reply.failure(failure, req: nil)
        } catch {
            let failure = ProtocolError(.unavailable, "subscription ended: \(error)")
            subscription.cancel()
            return Reply.failure(failure, req: nil)
        }
    }

    static func lines(_ chain: CommittedChain) -> [ByteBuffer] {
        let events = (try? JSONParser.parse(chain.events))?.arrayValue ?? []
        return events.enumerated().map { offset, event in
            var data: JSONValue = [:]
            if case .object = event { data = event }
            let type = data["type"] ?? .null
            data["type"] = nil
            return Reply.line([
                "position": .integer(Int64(clamping: chain.position)),
                "model": .string(chain.key.model),
                "id": .string(chain.key.id.rawValue),
                "version": .integer(Int64(clamping: chain.firstVersion + UInt64(offset))),
                "type": type,
                "data": data,
                "timestamp": .integer(chain.timestamp),
                "event_index": .integer(Int64(offset)),
                "event_count": .integer(Int64(events.count)),
            ])
        }
    }
}
