import NIOCore
import NIOEmbedded
import Testing

@testable import SourcedServer

@Suite struct RequestLineDecoderTests {
    /// Feeds `chunks` to a decoder with a 10-byte limit and returns what it emitted, as text.
    func frames(_ chunks: [String], close: Bool = false) throws -> [String] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RequestLineDecoder(maximumLength: 10)))
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(string: chunk))
        }
        if close {
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
        var result: [String] = []
        while let frame = try channel.readInbound(as: RequestLineDecoder.Frame.self) {
            switch frame {
            case .line(let line): result.append(String(buffer: line))
            case .tooLong: result.append("<too long>")
            case .unterminated: result.append("<unterminated>")
            }
        }
        return result
    }

    @Test func splitsOnNewlinesAcrossChunks() throws {
        #expect(try frames(["ab\ncd", "e\n\nf", "g\n"]) == ["ab", "cde", "", "fg"])
    }

    @Test func keepsCarriageReturnsAndOtherWhitespace() throws {
        #expect(try frames(["a\r\n\u{0B}b\u{0C}\n"]) == ["a\r", "\u{0B}b\u{0C}"])
    }

    @Test func acceptsALineOfExactlyTheMaximum() throws {
        #expect(try frames(["0123456789\n"]) == ["0123456789"])
    }

    @Test func reportsAnOversizedLineOnlyAtItsEnd() throws {
        #expect(try frames(["01234567890"]) == [])
        #expect(try frames(["0123456", "7890", "xxxxxxxxxxxxxxxx", "yy\nok\n"]) == ["<too long>", "ok"])
    }

    @Test func reportsAnUnterminatedLastLine() throws {
        #expect(try frames(["a\nbc"], close: true) == ["a", "<unterminated>"])
        #expect(try frames(["a\n"], close: true) == ["a"])
    }
}
