import Analysis
import CytoModel
import FCSParser
import Foundation
import Gating

/// A file as the reviews show it: the pipeline's analysis of it (one pass through the one
/// analysis path), optionally with a FlowJo sample's gate tree replayed in the same pass, the
/// event-level agreement of mapped populations, and an evenly strided subsample of events with
/// their memberships for plotting (bounded memory: at most about `maxPlotEvents` events).
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
    public var eventAgreement: [Population: EventAgreement] = [:]
    /// The pipeline's values for the file (nil when the automated gating was not asked for).
    public var result: Result<SampleResult, SampleRejection>?

    /// The column index of a raw (`$PnN`), panel or FlowJo compensated (`Comp-$PnN`) name.
    public func columnIndex(_ name: String) -> Int? {
        if let i = rawChannels.firstIndex(of: name) ?? panelChannels.firstIndex(of: name) { return i }
        if let m = flowJoSample?.matrix, let d = m.spillover.detectors.first(where: { m.compensatedName($0) == name }) {
            return rawChannels.firstIndex(of: d)
        }
        return nil
    }

    /// Analyses a file for review.
    /// - Parameters:
    ///   - analyzer: the pipeline's analysis.
    ///   - automated: gate with the pipeline's strategy (false: FlowJo only).
    ///   - flowJo: a FlowJo sample whose tree is replayed (nil: automated only).
    ///   - mapping: pipeline population -> FlowJo population path, for event-level agreement.
    ///   - flowJoEvaluation: FlowJo gates on the display scale (default) or FlowJo-exact binned.
    ///   - displayName: the file's name in `result`.
    /// - Throws: the coded rejection when the file cannot be read or gated.
    public static func load(
        path: String, analyzer: SampleAnalyzer, automated: Bool = true, flowJo: FlowJoWorkspace.Sample?,
        mapping: [Population: String] = [:], flowJoEvaluation: FlowJoWorkspace.Sample.Evaluation = .display,
        maxPlotEvents: Int = 20_000, displayName: String? = nil
    ) throws(SampleRejection) -> GatedSample {
        let fjStrategy: GatingStrategy?
        do { fjStrategy = try flowJo?.strategy(flowJoEvaluation) } catch {
            throw SampleRejection(code: .gating(error.code.rawValue), message: error.description)
        }
        var request = AnalysisRequest(
            path: path, displayName: displayName ?? URL(fileURLWithPath: path).lastPathComponent)
        request.automated = automated
        request.plotEvents = maxPlotEvents
        request.companions = fjStrategy.map { [$0] } ?? []
        // Event-level agreement of mapped populations, over every block of the same pass.
        let agreement = AgreementBox()
        let gates = analyzer.settings.gating.gates
        let analysis = analyzer.analyze(request) { block in
            guard automated, block.masks.count == 2 else { return }
            if agreement.pairs == nil {
                agreement.pairs = mapping.compactMap { key, fjPath in
                    guard let gid = gates[key], let a = block.gateIDs[0].firstIndex(of: gid),
                        let f = block.gateIDs[1].firstIndex(of: fjPath)
                    else { return nil }
                    return (key, a, f)
                }
            }
            for (key, a, f) in agreement.pairs! {
                agreement.values[key, default: EventAgreement()].add(
                    automated: block.masks[0][a], manual: block.masks[1][f], count: block.count)
            }
        }
        if let failure = analysis.failure { throw failure }
        var sample = GatedSample(
            path: path, events: analysis.events, rawChannels: analysis.rawChannels,
            panelChannels: analysis.panelChannels,
            columns: analysis.subsample?.columns ?? [], automatedStrategy: analysis.strategy, flowJoSample: flowJo,
            flowJoStrategy: fjStrategy)
        sample.automatedCounts = analysis.counts
        sample.automatedMasks = analysis.subsample?.automatedMasks ?? [:]
        sample.flowJoCounts = analysis.companionCounts.first ?? [:]
        sample.flowJoMasks = analysis.subsample?.companionMasks.first ?? [:]
        sample.eventAgreement = agreement.values
        sample.result = automated ? analysis.outcome : nil
        // Plots show compensated values: the FlowJo sample's matrix, else the file's spillover.
        if let matrix = flowJo?.matrix?.spillover ?? analysis.spillover, let first = sample.columns.first,
            !first.isEmpty
        {
            let indices = matrix.detectors.map { sample.rawChannels.firstIndex(of: $0) }
            if indices.allSatisfy({ $0 != nil }), let compensation = try? Compensation(matrix) {
                let out = compensation.apply(detectors: indices.map { sample.columns[$0!][...] }, count: first.count)
                for (k, i) in indices.enumerated() { sample.columns[i!] = out[k] }
                sample.compensated = true
            }
        }
        return sample
    }
}

/// The observer's accumulator (the analysis calls it serially, block after block).
final class AgreementBox: @unchecked Sendable {
    var pairs: [(Population, Int, Int)]?
    var values: [Population: EventAgreement] = [:]
}
