import FCSParser

/// Where the events of one data set come from: streamed from the file in blocks, or columns
/// already decoded (adaptive gating decodes a file once and gates those columns).
public enum EventSource {
    case stream(FCSReader, dataSet: Int)
    case columns([[Double]], count: Int)
}

/// One block of events with each engine's gate memberships.
public struct GatedBlock {
    /// Index of the block's first event in the data set.
    public var start: Int
    public var count: Int
    /// Scaled values, one slice per `$PnN` column.
    public var columns: [ArraySlice<Double>]
    /// `masks[engine][gate]`: 0/1 per event of the block.
    public var masks: [[[UInt8]]]
    /// `gateIDs[engine]`: the gate ids of each engine's strategy, in mask order.
    public var gateIDs: [[String]]
}

extension GatingEngine {
    /// The one block-gating loop: evaluates every engine on each block of `source` (scaled
    /// values, 8,192 events at a time), hands each gated block to `body`, and returns the
    /// events per gate of each engine (`counts[engine][gate]`, in strategy order). Memory is
    /// bounded by the block size when streaming.
    /// - Throws: the reader's `FCSError`, or what `body` throws.
    public static func gateBlocks(
        _ source: EventSource, engines: [GatingEngine], blockSize: Int = 8192,
        body: (GatedBlock) throws -> Void = { _ in }
    ) throws -> [[Int]] {
        var counts = engines.map { [Int](repeating: 0, count: $0.strategy.gates.count) }
        let ids = engines.map { $0.strategy.gates.map(\.id) }
        func gate(_ start: Int, _ columns: [ArraySlice<Double>], _ count: Int) throws {
            let masks = engines.map { $0.evaluate(columns: columns, count: count) }
            for (e, m) in masks.enumerated() { for g in m.indices { counts[e][g] += countOnes(m[g]) } }
            try body(GatedBlock(start: start, count: count, columns: columns, masks: masks, gateIDs: ids))
        }
        switch source {
        case .stream(let reader, let dataSet):
            var blocks = try reader.events(dataSet: dataSet, values: .scaled, blockSize: blockSize)
            var start = 0
            while let block = try blocks.next() {
                try gate(start, (0..<block.parameterCount).map { block.column($0) }, block.count)
                start += block.count
            }
        case .columns(let decoded, let total):
            var start = 0
            while start < total {
                let end = min(total, start + blockSize)
                try gate(start, decoded.map { $0[start..<end] }, end - start)
                start = end
            }
        }
        return counts
    }
}
