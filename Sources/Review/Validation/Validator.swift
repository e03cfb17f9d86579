import Analysis
import CytoModel
import FCSParser
import Foundation
import Gating

/// Automated vs manual, per sample and population.
public struct SampleComparison: Sendable, Hashable, Codable {
    public var sample: String
    public var population: String
    /// Percent of the parent (points), automated and manual.
    public var automated: Double?
    public var manual: Double?
    /// automated - manual, in points.
    public var deltaPct: Double?
    /// Absolute counts (cells/uL), when both sides have them.
    public var automatedAbs: Double?
    public var manualAbs: Double?
    /// automated - manual, in cells/uL, and relative to manual (%).
    public var deltaAbs: Double?
    public var deltaAbsRelative: Double?
    public var pass: Bool
    public var note: String?
    /// The criteria this row failed, in words (e.g. "|Δ| 3.00 points > 2 points").
    public var failures: [String] = []
}

/// Agreement of one metric across samples.
public struct MetricAgreement: Sendable, Hashable, Codable {
    public var metric: String
    public var n: Int
    public var bias: Double?
    public var loaLow: Double?
    public var loaHigh: Double?
    public var ccc: Double?
    public var pearson: Double?
    /// Event-level agreement with the manual gates (FlowJo geometry only).
    public var precision: Double?
    public var recall: Double?
    public var f1: Double?
    /// The (automated, manual) pairs behind the statistics, for the Bland–Altman plot.
    public var pairs: [[Double]]
    /// The sample of each pair.
    public var samples: [String] = []
}

/// A FlowJo population replayed by our gating core vs FlowJo's stored count.
public struct ReplayRow: Sendable, Hashable, Codable {
    public var sample: String
    public var population: String
    public var gateType: String
    public var flowJo: Int?
    public var ours: Int
    public var difference: Int?
    /// Allowed |difference| (events) under the documented rule.
    public var allowed: Int?
    /// nil when FlowJo stored no count (-1).
    public var pass: Bool?
}

/// A manual sample whose FCS file was not found, or could not be read.
public struct UnmatchedSample: Sendable, Hashable, Codable {
    public var sample: String
    public var code: RejectionCode
    public var message: String
}

/// The result of `cytoingest validate`.
public struct ValidationReport: Sendable {
    public var manualSource: String
    public var samples: [SampleComparison] = []
    public var metrics: [MetricAgreement] = []
    public var replay: [ReplayRow] = []
    public var unmatched: [UnmatchedSample] = []
    /// Per matched sample, the gated events for plots (same order as found).
    public var gated: [(name: String, sample: GatedSample, result: SampleResult?)] = []
    public var tolerances: ValidationSettings
    /// How FlowJo gates were replayed.
    public var flowJoEvaluation: FlowJoWorkspace.Sample.Evaluation = .display

    /// All comparisons and comparable replays pass, and every manual sample was found.
    public var pass: Bool {
        unmatched.isEmpty && samples.allSatisfy(\.pass) && replay.allSatisfy { $0.pass ?? true }
            && !(samples.isEmpty && replay.isEmpty)
    }
}

/// FlowJo evaluates polygons and ellipses on binned display data and rescales Time, so replayed
/// counts are compared with a tolerance per gate type, taken as the loosest along the
/// population's ancestry (docs/validation.md): rectangles (and quadrants) exact, polygons and
/// boolean nodes 0.5 % or 2 events, ellipses 3.5 % or 3 events, any gate on Time 1 % or 2 events.
public enum FlowJoTolerance {
    public static func allowed(
        population: FlowJoWorkspace.Population, in sample: FlowJoWorkspace.Sample, count: Int
    ) -> Int {
        var relative = 0.0, events = 0
        var path = population.path
        while !path.isEmpty {
            let key = path
            if let p = sample.populations.first(where: { $0.path == key }) {
                switch p.gate {
                case .geometry:
                    let type = p.gate.typeName
                    if p.gate.dimensionNames.contains(where: { $0.lowercased() == "time" }) {
                        relative = max(relative, 0.01)
                        events = max(events, 2)
                    }
                    if type == "PolygonGate" {
                        relative = max(relative, 0.005)
                        events = max(events, 2)
                    } else if type == "EllipsoidGate" {
                        relative = max(relative, 0.035)
                        events = max(events, 3)
                    }
                case .and, .or, .not:
                    relative = max(relative, 0.005)
                    events = max(events, 2)
                }
            }
            path.removeLast()
        }
        return max(events, Int((relative * Double(count)).rounded(.up)))
    }
}

/// Builds the validation report from manual results (CSV) or a FlowJo workspace.
public struct Validator {
    public let settings: ValidationSettings
    public let analyzer: SampleAnalyzer
    /// The FCS files manual samples are matched against (by `ManualSamples.key`; the first of a
    /// name wins), and where they were searched (for messages).
    public var candidates: [String]
    public var searchPaths: [String]
    public var maxPlotEvents = 20_000
    /// How FlowJo gates are replayed: on the display scale (default) or FlowJo-exact binned
    /// (`validate --flowjo-binning`).
    public var flowJoEvaluation: FlowJoWorkspace.Sample.Evaluation = .display

    public init(settings: ValidationSettings, analyzer: SampleAnalyzer, candidates: [String], searchPaths: [String]) {
        self.settings = settings
        self.analyzer = analyzer
        self.candidates = candidates
        self.searchPaths = searchPaths
    }

    /// The candidate FCS files by `ManualSamples.key` (the first of a name wins).
    func fcsIndex() -> [String: String] {
        var out: [String: String] = [:]
        for f in candidates where out[ManualSamples.key(f)] == nil { out[ManualSamples.key(f)] = f }
        return out
    }

    // MARK: CSV

    public func validate(manual: [ManualResult], source: String) -> ValidationReport {
        var report = ValidationReport(manualSource: source, tolerances: settings)
        let index = fcsIndex()
        var bySample: [String: [Population: ManualResult]] = [:]
        var order: [String] = []
        for m in manual {
            if bySample[m.sample] == nil { order.append(m.sample) }
            bySample[m.sample, default: [:]][m.population] = m
        }
        for name in order {
            guard let path = index[ManualSamples.key(name)] else {
                report.unmatched.append(
                    UnmatchedSample(
                        sample: name, code: .fcsNotFound,
                        message:
                            "no FCS file named like this sample under the search paths (\(searchPaths.joined(separator: ", ")))"
                    ))
                continue
            }
            let entries = bySample[name]!
            let manualCounts = entries.compactMapValues(\.count)
            var values: [Population: (pct: Double?, abs: Double?)] = [:]
            for (pop, m) in entries {
                var pct = m.percent
                if pct == nil, let c = m.count, let parent = pop.parent, let pc = manualCounts[parent], pc > 0 {
                    pct = 100 * Double(c) / Double(pc)
                }
                values[pop] = (pct, m.absolute)
            }
            compare(name: name, path: path, manual: values, flowJo: nil, mapping: [:], into: &report)
        }
        finish(&report)
        return report
    }

    // MARK: FlowJo

    public func validate(workspace: FlowJoWorkspace) -> ValidationReport {
        var report = ValidationReport(manualSource: workspace.file, tolerances: settings)
        report.flowJoEvaluation = flowJoEvaluation
        let index = fcsIndex()
        let mapping = settings.flowjo
        for s in workspace.samples {
            let label = s.name.isEmpty ? s.fileName : s.name
            let candidates = [s.fileName, s.keywords["$FIL"], s.name].compactMap { $0 }
            guard let path = candidates.lazy.compactMap({ index[ManualSamples.key($0)] }).first else {
                report.unmatched.append(
                    UnmatchedSample(
                        sample: label, code: .fcsNotFound,
                        message:
                            "the FCS file of workspace sample \(s.id) (DataSet uri, $FIL and sample name tried) was not found beside the workspace or under the search paths; pass its folder with --fcs"
                    ))
                continue
            }
            // FlowJo's stored counts as manual values for the mapped populations.
            var counts: [Population: Int] = [:]
            for (pop, p) in mapping {
                if let c = s.populations.first(where: { $0.pathString == p })?.flowJoCount { counts[pop] = c }
            }
            var values: [Population: (pct: Double?, abs: Double?)] = [:]
            for (pop, c) in counts where pop != .beads && pop != .lymphocytes {
                let pct = pop.parent.flatMap { counts[$0] }.flatMap { $0 > 0 ? 100 * Double(c) / Double($0) : nil }
                values[pop] = (pct, nil)
            }
            compare(
                name: label, path: path, manual: values, flowJo: s, mapping: mapping, manualCounts: counts,
                into: &report)
        }
        finish(&report)
        return report
    }

    // MARK: Shared

    func compare(
        name: String, path: String, manual: [Population: (pct: Double?, abs: Double?)], flowJo: FlowJoWorkspace.Sample?,
        mapping: [Population: String], manualCounts: [Population: Int] = [:], into report: inout ValidationReport
    ) {
        let gated: GatedSample
        do {
            gated = try GatedSample.load(
                path: path, analyzer: analyzer, automated: !manual.isEmpty, flowJo: flowJo, mapping: mapping,
                flowJoEvaluation: flowJoEvaluation, maxPlotEvents: maxPlotEvents, displayName: name)
        } catch {
            report.unmatched.append(UnmatchedSample(sample: name, code: error.code, message: error.message))
            return
        }
        var result: SampleResult?
        var rejection: String?
        switch gated.result {
        case .success(let r): result = r
        case .failure(let e): rejection = "\(e.code): the pipeline rejected the file"
        case nil: break
        }
        report.gated.append((name, gated, result))
        if let s = flowJo {
            if let total = s.flowJoCount {
                report.replay.append(
                    ReplayRow(
                        sample: name, population: "(all events)", gateType: "sample", flowJo: total, ours: gated.events,
                        difference: gated.events - total, allowed: 0, pass: gated.events == total))
            }
            for p in s.populations {
                let ours = gated.flowJoCounts[p.pathString] ?? 0
                let allowed = p.flowJoCount.map { FlowJoTolerance.allowed(population: p, in: s, count: $0) }
                let diff = p.flowJoCount.map { ours - $0 }
                report.replay.append(
                    ReplayRow(
                        sample: name, population: p.pathString, gateType: p.gate.typeName, flowJo: p.flowJoCount,
                        ours: ours, difference: diff,
                        allowed: allowed, pass: diff.map { abs($0) <= allowed! }))
            }
        }
        let t = settings
        for pop in manual.keys.sorted() {
            let m = manual[pop]!
            var row = SampleComparison(sample: name, population: pop.rawValue, pass: true)
            row.manual = m.pct
            if let r = result {
                row.automated = r.percent(pop)
                row.automatedAbs = r.absolute(pop)
            }
            row.manualAbs = m.abs
            // FlowJo: manual absolute from FlowJo's counts and the file's bead constants.
            if row.manualAbs == nil, pop.hasAbsolute, let r = result, let auto = row.automatedAbs,
                let c = manualCounts[pop], let beads = manualCounts[.beads], beads > 0
            {
                let autoCount = r.events(pop)
                if autoCount > 0 {
                    row.manualAbs = Double(c) / Double(beads) * (auto * Double(r.beadEvents) / Double(autoCount))
                }
            }
            var notes: [String] = []
            if let a = row.automated, let mm = row.manual {
                row.deltaPct = a - mm
                if abs(a - mm) > t.percentPoints {
                    row.pass = false
                    row.failures.append(
                        "|Δ| \(String(format: "%.2f", abs(a - mm))) points > \(String(format: "%g", t.percentPoints)) points"
                    )
                }
            } else if row.manual != nil {
                row.pass = false
                notes.append(rejection ?? "no automated value")
                row.failures.append("no automated %")
            }
            if let a = row.automatedAbs, let mm = row.manualAbs {
                row.deltaAbs = a - mm
                row.deltaAbsRelative = mm > 0 ? 100 * (a - mm) / mm : nil
                let ok = mm < t.lowAbsolute ? abs(a - mm) <= t.absoluteLowCells : abs(a - mm) <= t.absoluteRelative * mm
                if !ok {
                    row.pass = false
                    row.failures.append(
                        mm < t.lowAbsolute
                            ? "|Δ| \(String(format: "%.0f", abs(a - mm))) cells/µL > \(String(format: "%g", t.absoluteLowCells)) cells/µL (manual below \(String(format: "%g", t.lowAbsolute))/µL)"
                            : "|Δ| \(String(format: "%.1f", 100 * abs(a - mm) / mm)) % > \(String(format: "%g", 100 * t.absoluteRelative)) % of the manual /µL"
                    )
                }
            } else if row.manualAbs != nil {
                row.pass = false
                notes.append(rejection ?? "no automated absolute count")
                row.failures.append("no automated /µL")
            }
            if row.manual == nil && row.manualAbs == nil { continue }
            row.note = notes.isEmpty ? nil : notes.joined(separator: "; ")
            report.samples.append(row)
        }
    }

    func finish(_ report: inout ValidationReport) {
        var metrics: [MetricAgreement] = []
        for pop in Population.allCases where pop.parent != nil {
            let rows = report.samples.filter { $0.population == pop.rawValue }
            let pctRows = rows.filter { $0.automated != nil && $0.manual != nil }
            let pairs = pctRows.map { [$0.automated!, $0.manual!] }
            if !pairs.isEmpty {
                var agreement = EventAgreement()
                var haveEvents = false
                for g in report.gated {
                    if let e = g.sample.eventAgreement[pop] {
                        agreement = agreement + e
                        haveEvents = true
                    }
                }
                metrics.append(metric("\(pop.rawValue)Pct", pairs, pctRows.map(\.sample), haveEvents ? agreement : nil))
            }
            if pop.hasAbsolute {
                let absRows = rows.filter { $0.automatedAbs != nil && $0.manualAbs != nil }
                if !absRows.isEmpty {
                    metrics.append(
                        metric(
                            "\(pop.rawValue)Abs", absRows.map { [$0.automatedAbs!, $0.manualAbs!] },
                            absRows.map(\.sample),
                            nil))
                }
            }
        }
        report.metrics = metrics
    }

    func metric(_ name: String, _ pairs: [[Double]], _ samples: [String], _ events: EventAgreement?) -> MetricAgreement
    {
        let s = AgreementStatistics(pairs: pairs.map { ($0[0], $0[1]) })
        return MetricAgreement(
            metric: name, n: s.n, bias: s.bias, loaLow: s.loaLow, loaHigh: s.loaHigh, ccc: s.ccc, pearson: s.pearson,
            precision: events?.precision,
            recall: events?.recall, f1: events?.f1, pairs: pairs, samples: samples)
    }
}
