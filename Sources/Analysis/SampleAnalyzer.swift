import CytoModel
import FCSParser
import Foundation
import Gating

/// What one analysis is asked for, besides the derived values.
public struct AnalysisRequest: Sendable {
    /// The file to read.
    public var path: String
    /// The file's name in results (the input key the store uses).
    public var displayName: String
    public var sha256: String
    /// Gate the file with the pipeline's strategy (template or adaptive) and derive its values.
    /// False: only `companions` are evaluated (FlowJo replays without mapped populations).
    public var automated = true
    /// Keep about this many events (evenly strided) with their memberships, for plots.
    public var plotEvents = 0
    /// Other strategies evaluated in the same pass on the file's `$PnN` names (a FlowJo
    /// sample's gate tree); their counts and plotted memberships come back beside ours.
    public var companions: [GatingStrategy] = []
    /// The file's bytes when the caller has read them already (the ingest hashes and decodes
    /// from one read); nil: the file is read from `path`.
    public var bytes: [UInt8]?
    /// Receives each byte of the file once, in order, as it is read for the analysis (and the
    /// rest after it): a one-pass hash of a file too large to hold. `SampleAnalysis.sinkComplete`
    /// says whether the sink saw the whole file.
    public var byteSink: (@Sendable ([UInt8]) -> Void)?

    public init(path: String, displayName: String, sha256: String = "") {
        self.path = path
        self.displayName = displayName
        self.sha256 = sha256
    }
}

/// The analysis of one file: the one value `run`, `validate`, `report` and `gates` use.
public struct SampleAnalysis: Sendable {
    /// Evenly strided events kept for plots, with their gate memberships.
    public struct Subsample: Sendable {
        /// Scaled, uncompensated values, one column per `$PnN`.
        public var columns: [[Double]]
        /// Gate id -> membership of the kept events (the applied strategy).
        public var automatedMasks: [String: [UInt8]] = [:]
        /// Per companion strategy: gate id -> membership of the kept events.
        public var companionMasks: [[String: [UInt8]]] = []
    }

    public var path: String
    public var file: String
    public var events = 0
    /// `$PnN` and the names the strategy sees (panel markers), per column.
    public var rawChannels: [String] = []
    public var panelChannels: [String] = []
    /// The file's spillover (`$SPILLOVER` and its aliases), on `$PnN` names.
    public var spillover: SpilloverMatrix?
    /// How the file was gated, and the gates applied (nil when not gated).
    public var mode: GatingMode = .template
    /// The instrument profile the file was read with.
    public var instrument = "default"
    public var strategy: GatingStrategy?
    /// Events per gate id of `strategy`.
    public var counts: [String: Int] = [:]
    /// Events per gate id of each companion strategy.
    public var companionCounts: [[String: Int]] = []
    /// The adaptive gating of the file, when its gates were found in it.
    public var adaptive: AdaptiveGating.Result?
    public var subsample: Subsample?
    /// Set when the file could not be read or gated at all (nothing above is meaningful).
    public var failure: SampleRejection?
    /// The derived values, or why the file gives none.
    public var outcome: Result<SampleResult, SampleRejection>

    /// The derived values, when there are any.
    public var result: SampleResult? { try? outcome.get() }
    /// With `AnalysisRequest.byteSink`: every byte of the file went to the sink.
    public var sinkComplete = false
}

/// The analysis of one FCS file: identify the patient and day, map channels through the panel,
/// gate (template, or adaptive with template fallback), derive values and QC. Everything a
/// run needs is prepared once; `analyze` is safe to call from many tasks at once.
public struct SampleAnalyzer: Sendable {
    public let settings: AnalysisSettings
    /// The configured (template) strategy.
    public let strategy: GatingStrategy
    public let registry: [String: RegistryPatient]
    /// Instrument profiles tried in order before the configuration's own (`default`).
    public let instruments: [InstrumentProfile]
    let patientRegex: NSRegularExpression?
    let cbc: [String: CBCResult]

    /// - Parameters:
    ///   - registry: enrolled patients (empty: any patient is accepted).
    ///   - cbc: dual-platform CBC results.
    /// - Throws: when `identity.fileNamePattern` is not a regular expression.
    public init(
        settings: AnalysisSettings, strategy: GatingStrategy, registry: [String: RegistryPatient],
        cbc: [CBCResult] = [],
        instruments: [InstrumentProfile] = []
    ) throws {
        self.settings = settings
        self.strategy = strategy
        self.registry = registry
        self.instruments = instruments
        self.patientRegex = try settings.identity.fileNamePattern.map { try NSRegularExpression(pattern: $0) }
        self.cbc = Dictionary(cbc.map { ("\($0.patient)|\($0.day)", $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Largest file adaptive gating loads whole (values); larger files are gated by the template.
    static let adaptiveMaxValues = 64 << 20

    // MARK: The analysis

    /// Reads, identifies, gates and derives one file. Never throws: every failure is a coded
    /// rejection in `outcome` (and `failure` when the file could not be read or gated).
    /// - Parameter observe: sees every gated block (`masks[0]` the applied strategy when
    ///   `automated`, then the companions), for statistics over all events.
    public func analyze(_ request: AnalysisRequest, observe: ((GatedBlock) -> Void)? = nil) -> SampleAnalysis {
        var opened: FCSReader?
        var analysis = analyze(request, observe: observe, opened: &opened)
        if request.byteSink != nil, let opened {
            analysis.sinkComplete = (try? opened.finishSink()) != nil
        }
        return analysis
    }

    func analyze(
        _ request: AnalysisRequest, observe: ((GatedBlock) -> Void)?, opened: inout FCSReader?
    )
        -> SampleAnalysis
    {
        var analysis = SampleAnalysis(
            path: request.path, file: request.displayName,
            outcome: .failure(SampleRejection(code: .internalError, message: "not analysed")))
        let reader: FCSReader
        let set: FCSDataSet
        do {
            if let b = request.bytes {
                reader = try FCSReader(bytes: b, name: request.path)
            } else if let sink = request.byteSink {
                reader = try FCSReader(path: request.path, sink: sink)
            } else {
                reader = try FCSReader(path: request.path)
            }
            opened = reader
            set = reader.dataSets[0]
        } catch {
            let r = Self.rejection(error)
            analysis.failure = r
            analysis.outcome = .failure(r)
            return analysis
        }
        analysis.events = set.eventCount
        analysis.rawChannels = set.parameters.map(\.name)
        let profile = self.profile(for: set)
        analysis.instrument = profile.name
        switch profile.channelNames(set) {
        case .success(let names): analysis.panelChannels = names
        case .failure(let r):
            analysis.failure = r
            analysis.outcome = .failure(r)
            return analysis
        }
        // The patient and day first: a file that names no one is rejected before any gating.
        var identity: Result<(String, Int), SampleRejection> = .failure(
            SampleRejection(code: .internalError, message: "not identified"))
        do { identity = .success(try identify(set, path: request.path)) } catch {
            identity = .failure(Self.rejection(error))
        }
        let onlyOutcome = request.plotEvents == 0 && request.companions.isEmpty && observe == nil
        if case .failure(let r) = identity, onlyOutcome || !request.automated && request.companions.isEmpty {
            analysis.outcome = .failure(r)
            return analysis
        }
        var flags: [QCFlag] = []
        do {
            analysis.spillover = try set.spillover().map { try SpilloverMatrix(fcs: $0) }
            let labels = set.parameters.map(\.label)
            var source = EventSource.stream(reader, dataSet: 0)
            var engines: [GatingEngine] = []
            if request.automated {
                if settings.gating.mode == .adaptive, let channels = adaptiveChannels(analysis.panelChannels),
                    set.eventCount * set.parameters.count <= Self.adaptiveMaxValues
                {
                    let columns = try reader.readEvents(values: .scaled).columns
                    source = .columns(columns, count: set.eventCount)
                    var options = AdaptiveGating.Options()
                    options.minConfidence = settings.gating.minConfidence
                    // The applied gates name the file's own channels ($PnN), so they replay on it as it is.
                    let applied = try AdaptiveGating.run(
                        columns: columns, names: analysis.rawChannels, channels: channels,
                        spillover: analysis.spillover, template: profile.strategy,
                        templateNames: analysis.panelChannels, ids: AdaptiveGating.IDs(settings.gating.gates),
                        options: options)
                    analysis.adaptive = applied
                    analysis.mode = .adaptive
                    analysis.counts = applied.counts
                    flags = applied.flags
                    engines.append(
                        try GatingEngine(
                            strategy: applied.strategy, channels: analysis.rawChannels, labels: labels,
                            fcsSpillover: analysis.spillover))
                } else {
                    if settings.gating.mode == .adaptive { flags = [.adaptiveSkipped] }
                    engines.append(try templateEngine(for: set, profile: profile, names: analysis.panelChannels))
                }
                analysis.strategy = engines[0].strategy
            }
            for companion in request.companions {
                engines.append(try GatingEngine(strategy: companion, channels: analysis.rawChannels, labels: labels))
            }
            // The adaptive counts come from its member lists; the engines then run only for plots,
            // companions or an observer.
            if analysis.adaptive == nil || !onlyOutcome {
                try gate(source, engines: engines, request: request, observe: observe, into: &analysis)
            }
        } catch {
            var r = Self.rejection(error)
            if case .success(let (patient, day)) = identity {
                r.patient = patient
                r.collectedDays = day
            }
            analysis.failure = r
            analysis.outcome = .failure(r)
            return analysis
        }
        guard request.automated else { return analysis }
        switch identity {
        case .failure(let r): analysis.outcome = .failure(r)
        case .success(let (patient, day)):
            var counts: [Population: Int] = [:]
            for p in Population.allCases { counts[p] = settings.gating.gates[p].flatMap { analysis.counts[$0] } ?? 0 }
            do {
                analysis.outcome = .success(
                    try derive(
                        set, patient: patient, day: day, counts: counts, flags: flags, adaptive: analysis.adaptive,
                        request: request, profile: profile))
            } catch {
                var r = Self.rejection(error)
                r.patient = patient
                r.collectedDays = day
                analysis.outcome = .failure(r)
            }
        }
        return analysis
    }

    /// Runs the engines over the events (the one block loop), keeping counts, the strided
    /// subsample and its memberships.
    func gate(
        _ source: EventSource, engines: [GatingEngine], request: AnalysisRequest, observe: ((GatedBlock) -> Void)?,
        into a: inout SampleAnalysis
    ) throws {
        let stride = request.plotEvents > 0 ? max(1, (a.events + request.plotEvents - 1) / request.plotEvents) : 0
        var columns = [[Double]](repeating: [], count: a.rawChannels.count)
        var kept = engines.map { e in [[UInt8]](repeating: [], count: e.strategy.gates.count) }
        let counts = try GatingEngine.gateBlocks(source, engines: engines) { block in
            observe?(block)
            guard stride > 0 else { return }
            // Events whose index in the file is divisible by `stride` are kept.
            var e = (stride - block.start % stride) % stride
            while e < block.count {
                for c in block.columns.indices { columns[c].append(block.columns[c][block.columns[c].startIndex + e]) }
                for (k, masks) in block.masks.enumerated() { for g in masks.indices { kept[k][g].append(masks[g][e]) } }
                e += stride
            }
        }
        var byEngine: [[String: Int]] = []
        var masksByEngine: [[String: [UInt8]]] = []
        for (k, engine) in engines.enumerated() {
            let ids = engine.strategy.gates.map(\.id)
            byEngine.append(Dictionary(uniqueKeysWithValues: zip(ids, counts[k])))
            masksByEngine.append(Dictionary(uniqueKeysWithValues: zip(ids, kept[k])))
        }
        let automated = a.strategy != nil
        if automated, a.adaptive == nil { a.counts = byEngine[0] }
        a.companionCounts = Array(byEngine.dropFirst(automated ? 1 : 0))
        if stride > 0 {
            a.subsample = SampleAnalysis.Subsample(
                columns: columns, automatedMasks: automated ? masksByEngine[0] : [:],
                companionMasks: Array(masksByEngine.dropFirst(automated ? 1 : 0)))
        }
    }

    /// A coded rejection for any error of the analysis.
    /// The rejection of a file refused on its HEADER and TEXT alone (not FCS, impossible offsets,
    /// truncated DATA), found without reading its events; nil when they read, or when the file
    /// cannot be opened (the caller's read says why).
    public static func precheck(path: String) -> SampleRejection? {
        do {
            _ = try FCSReader(path: path)
            return nil
        } catch {
            return error.code == .io ? nil : rejection(error)
        }
    }

    static func rejection(_ error: any Error) -> SampleRejection {
        switch error {
        case let e as SampleRejection: e
        case let e as FCSError: SampleRejection(code: .fcs(e.code.rawValue), message: e.description)
        case let e as GatingError: SampleRejection(code: .gating(e.code.rawValue), message: e.description)
        default: SampleRejection(code: .internalError, message: "\(error)")
        }
    }

    // MARK: Channels

    /// The instrument profile of a data set: the first configured instrument it matches, else the
    /// configuration's own panel and strategy.
    public func profile(for set: FCSDataSet) -> InstrumentProfile {
        instruments.first { $0.matches(set) }
            ?? InstrumentProfile(
                name: "default", panel: settings.panel, strategy: strategy, strategySHA256: settings.strategySHA256)
    }

    /// How a data set would be read, without its events: the instrument profile, the channel
    /// names after the panel, and whether the profile's strategy resolves on them (the error
    /// names the channels the file offers). `check-config` shows this per file.
    public func readiness(of set: FCSDataSet) -> (profile: String, channels: [String], problem: String?) {
        let profile = self.profile(for: set)
        switch profile.channelNames(set) {
        case .failure(let r): return (profile.name, set.parameters.map(\.name), r.message)
        case .success(let names):
            do {
                _ = try templateEngine(for: set, profile: profile, names: names)
                return (profile.name, names, nil)
            } catch {
                let offered = InstrumentProfile.describe(set)
                return (
                    profile.name, names,
                    "\(Self.rejection(error).message); the file offers \(offered), read as \(names.joined(separator: ", "))"
                )
            }
        }
    }

    /// The template's engine for a data set: channels named by the panel's markers (a strategy
    /// may name the detector, `$PnN`, instead), the file's spillover renamed likewise.
    func templateEngine(for set: FCSDataSet, profile: InstrumentProfile, names: [String]) throws -> GatingEngine {
        var spill: SpilloverMatrix? = nil
        if let s = try set.spillover() {
            let renamed = s.channels.map { c in set.parameterIndex(named: c).map { names[$0] } ?? c }
            spill = try SpilloverMatrix(fluorochromes: renamed, detectors: renamed, matrix: s.matrix)
        }
        // Where the panel renamed a channel, its $PnN is its second name; else its $PnS.
        let alternates = set.parameters.enumerated().map { i, p in names[i] != p.name ? p.name : p.label }
        return try GatingEngine(strategy: profile.strategy, channels: names, labels: alternates, fcsSpillover: spill)
    }

    /// The panel's columns for adaptive gating, by the names the strategy sees.
    func adaptiveChannels(_ names: [String]) -> AdaptiveGating.Channels? {
        func find(_ name: String) -> Int? { names.firstIndex { $0.caseInsensitiveCompare(name) == .orderedSame } }
        func scatter(_ prefix: String, _ suffix: String) -> Int? {
            find(prefix + suffix)
                ?? names.firstIndex { $0.uppercased().hasPrefix(prefix) && $0.uppercased().hasSuffix(suffix) }
        }
        guard let fscA = scatter("FSC", "-A"), let fscH = scatter("FSC", "-H"),
            let ssc = scatter("SSC", "-A") ?? find("SSC"),
            let cd45 = find("CD45"), let cd3 = find("CD3"), let cd4 = find("CD4"), let cd8 = find("CD8"),
            let dr = find("HLA-DR"), let cd25 = find("CD25")
        else { return nil }
        return AdaptiveGating.Channels(
            fscA: fscA, fscH: fscH, ssc: ssc, time: find("Time"), cd45: cd45, cd3: cd3, cd4: cd4, cd8: cd8, hladr: dr,
            cd25: cd25)
    }
}
