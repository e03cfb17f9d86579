import FCSParser
import Foundation
import Gating

/// One streamed pass over an FCS file through the pipeline's strategy and, when given, a FlowJo
/// sample's gate tree: full counts of every gate, event-level agreement of mapped populations,
/// and an evenly strided subsample of events with their memberships for plotting (bounded
/// memory: at most `maxPlotEvents` events are kept).
public struct GatedSample: Sendable {
    public var path: String
    public var events: Int
    /// `$PnN` of each column.
    public var rawChannels: [String]
    /// The names the pipeline's strategy sees (panel markers), per column.
    public var panelChannels: [String]
    /// Subsampled events (scaled values, compensated when `compensated`), one column per channel.
    public var columns: [[Double]]
    public var compensated = false
    public var automatedStrategy: GatingStrategy?
    /// Gate id -> membership of the subsampled events.
    public var automatedMasks: [String: [UInt8]] = [:]
    public var automatedCounts: [String: Int] = [:]
    public var flowJoSample: FlowJoWorkspace.Sample?
    public var flowJoStrategy: GatingStrategy?
    /// Population path -> membership of the subsampled events.
    public var flowJoMasks: [String: [UInt8]] = [:]
    public var flowJoCounts: [String: Int] = [:]
    /// Automated vs FlowJo membership of mapped populations, over all events.
    public var eventAgreement: [PanelPopulation: EventAgreement] = [:]
    /// The pipeline's values for the file, from the same pass (nil without an analyzer).
    public var result: Result<SampleResult, SampleRejection>?

    /// The column index of a raw (`$PnN`), panel or FlowJo compensated (`Comp-$PnN`) name.
    public func columnIndex(_ name: String) -> Int? {
        if let i = rawChannels.firstIndex(of: name) ?? panelChannels.firstIndex(of: name) { return i }
        if let m = flowJoSample?.matrix, let d = m.spillover.detectors.first(where: { m.compensatedName($0) == name }) {
            return rawChannels.firstIndex(of: d)
        }
        return nil
    }

    /// - Parameters:
    ///   - analyzer: the pipeline's strategy (nil: FlowJo only).
    ///   - flowJo: a FlowJo sample whose tree is replayed (nil: automated only).
    ///   - mapping: pipeline population -> FlowJo population path, for event-level agreement.
    ///   - displayName: the file's name in `result`.
    public static func load(
        path: String, analyzer: SampleAnalyzer?, flowJo: FlowJoWorkspace.Sample?, mapping: [PanelPopulation: String] = [:],
        maxPlotEvents: Int = 20_000, displayName: String? = nil
    ) throws -> GatedSample {
        let reader = try FCSReader(path: path)
        let set = reader.dataSets[0]
        let raw = set.parameters.map(\.name)
        let panel = analyzer?.channelNames(set) ?? raw
        // Adaptive mode: the file is decoded once; the gates found in it (on its own channel
        // names) are then drawn and counted as applied, from the same columns.
        var automated = try analyzer.map { try $0.engine(for: set) }
        var decoded: [[Double]]?
        var adaptive: AdaptiveGating.Result?
        if let analyzer, analyzer.adaptiveApplies(to: set) {
            let columns = try reader.readEvents(values: .scaled).columns
            decoded = columns
            if let applied = try analyzer.adaptiveGating(columns: columns, set: set) {
                adaptive = applied
                automated = try GatingEngine(
                    strategy: applied.strategy, channels: raw, labels: set.parameters.map(\.label), fcsSpillover: try set.spillover().map { try SpilloverMatrix(fcs: $0) })
            }
        }
        let fjStrategy = try flowJo?.strategy()
        let fjEngine = try fjStrategy.map { try GatingEngine(strategy: $0, channels: raw, labels: set.parameters.map(\.label)) }
        let stride = max(1, (set.eventCount + maxPlotEvents - 1) / max(1, maxPlotEvents))
        var sample = GatedSample(
            path: path, events: set.eventCount, rawChannels: raw, panelChannels: panel, columns: Array(repeating: [], count: raw.count),
            automatedStrategy: automated?.strategy, flowJoSample: flowJo, flowJoStrategy: fjStrategy)
        let autoIDs = automated?.strategy.gates.map(\.id) ?? []
        let fjIDs = fjStrategy?.gates.map(\.id) ?? []
        var autoCounts = [Int](repeating: 0, count: autoIDs.count)
        var fjCounts = [Int](repeating: 0, count: fjIDs.count)
        var autoMasks = [[UInt8]](repeating: [], count: autoIDs.count)
        var fjMasks = [[UInt8]](repeating: [], count: fjIDs.count)
        let pairs: [(PanelPopulation, Int, Int)] = mapping.compactMap { key, fjPath in
            guard let gid = analyzer?.config.gating.gates[key.rawValue], let a = autoIDs.firstIndex(of: gid), let f = fjIDs.firstIndex(of: fjPath) else {
                return nil
            }
            return (key, a, f)
        }
        var agreement: [PanelPopulation: EventAgreement] = [:]
        var index = 0
        /// Blocks of 8,192 events: slices of the decoded columns, or streamed from the file.
        func eachBlock(_ body: ([ArraySlice<Double>], Int) -> Void) throws {
            if let decoded {
                var start = 0
                while start < set.eventCount {
                    let end = min(set.eventCount, start + 8192)
                    body(decoded.map { $0[start..<end] }, end - start)
                    start = end
                }
            } else {
                var blocks = try reader.events(values: .scaled, blockSize: 8192)
                while let block = try blocks.next() { body((0..<block.parameterCount).map { block.column($0) }, block.count) }
            }
        }
        try eachBlock { cols, count in
            let am = automated?.evaluate(columns: cols, count: count) ?? []
            let fm = fjEngine?.evaluate(columns: cols, count: count) ?? []
            for g in am.indices { autoCounts[g] += countOnes(am[g]) }
            for g in fm.indices { fjCounts[g] += countOnes(fm[g]) }
            for (key, a, f) in pairs { agreement[key, default: EventAgreement()].add(automated: am[a], manual: fm[f], count: count) }
            // Events with a global index divisible by `stride` are kept.
            var e = (stride - index % stride) % stride
            while e < count {
                for c in cols.indices { sample.columns[c].append(cols[c][cols[c].startIndex + e]) }
                for g in am.indices { autoMasks[g].append(am[g][e]) }
                for g in fm.indices { fjMasks[g].append(fm[g][e]) }
                e += stride
            }
            index += count
        }
        for (i, id) in autoIDs.enumerated() {
            sample.automatedCounts[id] = autoCounts[i]
            sample.automatedMasks[id] = autoMasks[i]
        }
        for (i, id) in fjIDs.enumerated() {
            sample.flowJoCounts[id] = fjCounts[i]
            sample.flowJoMasks[id] = fjMasks[i]
        }
        sample.eventAgreement = agreement
        if let analyzer {
            let gating = adaptive.map { SampleAnalyzer.GatingOutcome(counts: $0.counts, flags: $0.flags, adaptive: $0) }
                ?? SampleAnalyzer.GatingOutcome(counts: sample.automatedCounts, flags: analyzer.config.gating.mode == "adaptive" ? ["ADAPTIVE-SKIPPED"] : [])
            sample.result = analyzer.result(
                of: set, path: path, displayName: displayName ?? URL(fileURLWithPath: path).lastPathComponent, sha256: "", gating: gating)
        }
        // Plots show compensated values: the FlowJo sample's matrix, else the file's spillover.
        let matrix = try flowJo?.matrix?.spillover ?? set.spillover().map { try SpilloverMatrix(fcs: $0) }
        if let matrix, let first = sample.columns.first, !first.isEmpty {
            let n = first.count
            let indices = matrix.detectors.map { raw.firstIndex(of: $0) }
            if indices.allSatisfy({ $0 != nil }) {
                let out = try Compensation(matrix).apply(detectors: indices.map { sample.columns[$0!][...] }, count: n)
                for (k, i) in indices.enumerated() { sample.columns[i!] = out[k] }
                sample.compensated = true
            }
        }
        return sample
    }
}
