import SourcedCore
import Testing

@Suite struct LRUOrderTests {
    /// Pops every key, least recent first.
    private func drain(_ order: inout LRUOrder<Int>) -> [Int] {
        var keys: [Int] = []
        while let key = order.popLeastRecent() { keys.append(key) }
        return keys
    }

    @Test func popsInLeastRecentlyUsedOrder() {
        var order = LRUOrder<Int>()
        for key in 1...4 { order.touch(key) }
        order.touch(2)
        order.touch(4)
        #expect(order.count == 4)
        #expect(order.leastRecent == 1)
        #expect(drain(&order) == [1, 3, 2, 4])
        #expect(order.isEmpty)
        #expect(order.leastRecent == nil)
    }

    @Test func removesFromAnyPosition() {
        var order = LRUOrder<Int>()
        for key in 1...5 { order.touch(key) }
        let removed = [order.remove(1), order.remove(3), order.remove(5), order.remove(5)]
        #expect(removed == [true, true, true, false])
        #expect(!order.contains(3))
        #expect(order.contains(2))
        #expect(drain(&order) == [2, 4])
    }

    @Test func reusesSlotsAfterRemovalWithoutMixingKeys() {
        var order = LRUOrder<Int>()
        for round in 0..<3 {
            for key in 0..<10 { order.touch(round * 100 + key) }
            for key in stride(from: 0, to: 10, by: 2) { order.remove(round * 100 + key) }
        }
        #expect(order.count == 15)
        #expect(drain(&order) == [1, 3, 5, 7, 9, 101, 103, 105, 107, 109, 201, 203, 205, 207, 209])
    }

    /// Random operations against a plain array model of the same order.
    @Test func agreesWithASimpleModel() {
        var order = LRUOrder<Int>()
        var model: [Int] = []
        var random = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let key = Int.random(in: 0..<50, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                order.touch(key)
                model.removeAll { $0 == key }
                model.append(key)
            case 1:
                let removed = order.remove(key)
                #expect(removed == model.contains(key))
                model.removeAll { $0 == key }
            default:
                let popped = order.popLeastRecent()
                #expect(popped == (model.isEmpty ? nil : model.removeFirst()))
            }
            #expect(order.count == model.count)
            #expect(order.leastRecent == model.first)
        }
    }
}
