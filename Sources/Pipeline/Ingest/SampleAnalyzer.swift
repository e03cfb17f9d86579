import FCSParser
import Foundation
import Gating

/// A patient of the registry: day 0 (first IL-2 infusion), cycle starts and dose.
public struct RegistryPatient: Sendable, Hashable, Codable {
    public var id: String
    public var day0: Int
    public var cycleStarts: [Int]
    public var doseMIUPerDay: Double?
}

/// Reads the patient registry CSV (`patient_id,day0,cycle_starts,dose_miu_per_day`).
public enum Registry {
    /// The configuration's registry (empty when it names none).
    public static func load(for config: PipelineConfiguration) throws(ConfigurationError) -> [String: RegistryPatient] {
        guard let path = config.registry else { return [:] }
        return try load(path: config.resolve(path))
    }

    public static func load(path: String) throws(ConfigurationError) -> [String: RegistryPatient] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(path: "$.registry", message: "cannot read \(path)")
        }
        var out: [String: RegistryPatient] = [:]
        let lines = text.split(whereSeparator: \.isNewline)
        guard let header = lines.first?.split(separator: ",").map({ $0.trimmed }), header.first == "patient_id", header.contains("day0") else {
            throw ConfigurationError(path: "$.registry", message: "\(path) must start with the header patient_id,day0,...")
        }
        for (n, line) in lines.dropFirst().enumerated() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmed }
            func col(_ name: String) -> String? { header.firstIndex(of: name).flatMap { $0 < f.count ? f[$0] : nil } }
            guard let id = col("patient_id"), !id.isEmpty, let d0 = col("day0").flatMap({ LabTimestamp.parseISO($0, requireZone: false) }) else {
                throw ConfigurationError(path: "$.registry", message: "\(path) line \(n + 2): needs a patient id and an ISO day0")
            }
            let cycles = (col("cycle_starts") ?? "").split(separator: ";").compactMap { LabTimestamp.parseISO(String($0), requireZone: false)?.localDays }
            out[id] = RegistryPatient(id: id, day0: d0.localDays, cycleStarts: cycles.isEmpty ? [d0.localDays] : cycles, doseMIUPerDay: col("dose_miu_per_day").flatMap(Double.init))
        }
        return out
    }
}

/// The derived values of one FCS file (domain.md section 6), with the counts behind them.
public struct SampleResult: Sendable, Hashable, Codable {
    public var file: String
    public var sha256: String
    public var patient: String
    public var collectedDays: Int
    public var collected: String
    public var events: Int
    public var beadEvents: Int
    public var lymphocyteEvents: Int
    public var cd3Events: Int
    public var cd4Events: Int
    public var cd8Events: Int
    public var cd8HladrEvents: Int
    public var cd4Cd25Events: Int
    public var cd4Abs: Double?
    public var cd8Abs: Double?
    public var cd4Pct: Double
    public var cd8Pct: Double
    public var cd3Pct: Double
    public var cd4cd8Ratio: Double?
    public var cd8HladrPct: Double?
    public var cd4Cd25Pct: Double?
    /// "single-platform beads" or "dual-platform".
    public var method: String
    public var qcFlags: [String]
    public var warnings: [String]
    public var strategySHA256: String
    public var programVersion: String
    /// `template` or `adaptive`: how the file was gated.
    public var gating: String = "template"
    /// The gates applied to the file as Gating-ML 2.0 (adaptive gating).
    public var appliedGatingML: String? = nil
}

/// A file the pipeline could not use, with its code (never a patient id in the message).
public struct SampleRejection: Error, Sendable, Hashable, Codable {
    public var code: String
    public var message: String
}

/// Everything the analysis of one file needs, prepared once per run.
public struct SampleAnalyzer: Sendable {
    public let config: PipelineConfiguration
    public let strategy: GatingStrategy
    public let strategySHA256: String
    public let registry: [String: RegistryPatient]
    let patientRegex: NSRegularExpression?
    let cbc: [String: (wbc: Double, lymphPct: Double)]

    public init(config: PipelineConfiguration, registry: [String: RegistryPatient]) throws {
        self.config = config
        let strategyPath = config.resolve(config.gating.strategy)
        self.strategy = try GatingMLReader.read(path: strategyPath)
        self.strategySHA256 = try FileHash.sha256(path: strategyPath)
        self.registry = registry
        self.patientRegex = try config.identity.fileNamePattern.map { try NSRegularExpression(pattern: $0) }
        var cbc: [String: (Double, Double)] = [:]
        if config.counting.method == "dual", let path = config.counting.cbc {
            let text = try String(contentsOfFile: config.resolve(path), encoding: .utf8)
            for line in text.split(whereSeparator: \.isNewline).dropFirst() {
                let f = line.split(separator: ",").map { $0.trimmed }
                if f.count >= 4, let d = LabTimestamp.parseISO(f[1], requireZone: false), let w = Double(f[2]), let l = Double(f[3]) {
                    cbc["\(f[0])|\(d.localDays)"] = (w, l)
                }
            }
        }
        self.cbc = cbc
        for (key, id) in config.gating.gates where strategy.gate(id) == nil {
            throw ConfigurationError(path: "$.gating.gates.\(key)", message: "gate \(id) is not in the strategy")
        }
    }

    /// The channel names the strategy sees: `$PnN`, or the marker when the panel maps it.
    func channelNames(_ set: FCSDataSet) -> [String] {
        set.parameters.map { p in
            for (marker, patterns) in config.panel.markers.sorted(by: { $0.key < $1.key }) {
                for pattern in patterns where Self.matches(pattern, p.name) || (p.label.map { Self.matches(pattern, $0) } ?? false) {
                    return marker
                }
            }
            return p.name
        }
    }

    static func matches(_ pattern: String, _ text: String) -> Bool {
        if !pattern.contains("*") { return pattern.lowercased() == text.lowercased() }
        let parts = pattern.lowercased().split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(text.lowercased())
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() {
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return rest.hasSuffix(parts.last!)
    }

    func keyword(_ set: FCSDataSet, _ key: String?) -> String? {
        key.flatMap { set.text[$0]?.trimmed }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The strategy's engine for a data set: channels named by the panel's markers, the file's
    /// spillover renamed likewise.
    public func engine(for set: FCSDataSet, strategy: GatingStrategy? = nil) throws -> GatingEngine {
        let names = channelNames(set)
        var spill: SpilloverMatrix? = nil
        if let s = try set.spillover() {
            let renamed = s.channels.map { c in set.parameterIndex(named: c).map { names[$0] } ?? c }
            spill = try SpilloverMatrix(fluorochromes: renamed, detectors: renamed, matrix: s.matrix)
        }
        return try GatingEngine(strategy: strategy ?? self.strategy, channels: names, labels: set.parameters.map(\.label), fcsSpillover: spill)
    }

    /// `$DATE` forms: dd-MMM-yyyy (also 2-digit years), yyyy-mm-dd.
    static func parseDate(_ s: String) -> Int? {
        LabTimestamp.parseISO(s, requireZone: false)?.localDays ?? CivilDate.parseFCS(s)
    }

    /// Reads, identifies, gates and derives one file.
    public func analyze(path: String, displayName: String, sha256: String) -> Result<SampleResult, SampleRejection> {
        Self.catching { try analyzeOrThrow(path: path, displayName: displayName, sha256: sha256) }
    }

    /// Runs `body`, turning every error into a coded rejection.
    static func catching(_ body: () throws -> SampleResult) -> Result<SampleResult, SampleRejection> {
        do {
            return .success(try body())
        } catch let e as SampleRejection {
            return .failure(e)
        } catch let e as FCSError {
            return .failure(SampleRejection(code: "FCS-\(e.code.rawValue)", message: e.description))
        } catch let e as GatingError {
            return .failure(SampleRejection(code: "GATING-\(e.code.rawValue)", message: e.description))
        } catch {
            return .failure(SampleRejection(code: "E-INTERNAL", message: "\(error)"))
        }
    }

    func analyzeOrThrow(path: String, displayName: String, sha256: String) throws -> SampleResult {
        let reader = try FCSReader(path: path)
        let set = reader.dataSets[0]
        let (patient, day) = try identify(set, path: path)
        return try derive(set, patient: patient, day: day, gating: try gate(reader: reader, set: set), displayName: displayName, sha256: sha256)
    }

    /// How a file was gated: events per gate id, the flags gating raised, and the adaptive
    /// result when the gates were found in the file.
    public struct GatingOutcome {
        public var counts: [String: Int]
        public var flags: [String] = []
        public var adaptive: AdaptiveGating.Result?
    }

    /// Gates a file: adaptive when configured (and possible), else the template, streamed.
    func gate(reader: FCSReader, set: FCSDataSet) throws -> GatingOutcome {
        if config.gating.mode == "adaptive", let adaptive = try adaptiveGating(reader: reader, set: set) {
            return GatingOutcome(counts: adaptive.counts, flags: adaptive.flags, adaptive: adaptive)
        }
        let engine = try self.engine(for: set)
        var c = [Int](repeating: 0, count: strategy.gates.count)
        var blocks = try reader.events(values: .scaled, blockSize: 8192)
        while let block = try blocks.next() {
            let masks = engine.evaluate(columns: (0..<block.parameterCount).map { block.column($0) }, count: block.count)
            for g in masks.indices { c[g] += countOnes(masks[g]) }
        }
        return GatingOutcome(counts: Dictionary(uniqueKeysWithValues: zip(strategy.gates.map(\.id), c)), flags: config.gating.mode == "adaptive" ? ["ADAPTIVE-SKIPPED"] : [])
    }

    /// The derived values of a file gated elsewhere (one pass for plots and values), or why
    /// the file gives none.
    public func result(of set: FCSDataSet, path: String, displayName: String, sha256: String, gating: GatingOutcome) -> Result<SampleResult, SampleRejection> {
        Self.catching {
            let (patient, day) = try identify(set, path: path)
            return try derive(set, patient: patient, day: day, gating: gating, displayName: displayName, sha256: sha256)
        }
    }

    /// The patient and collection day of a file.
    func identify(_ set: FCSDataSet, path: String) throws -> (String, Int) {
        var patient: String? = keyword(set, config.identity.patientKeyword)
        if patient == nil, let re = patientRegex {
            let name = URL(fileURLWithPath: path).lastPathComponent
            if let m = re.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)), let r = Range(m.range(withName: "patient"), in: name) {
                patient = String(name[r])
            }
        }
        guard let patient else {
            throw SampleRejection(code: "E-NO-PATIENT", message: "no patient id in \(config.identity.patientKeyword ?? "the file name")")
        }
        guard registry.isEmpty || registry[patient] != nil else {
            throw SampleRejection(code: "E-UNKNOWN-PATIENT", message: "the patient is not in the registry")
        }
        guard let dateText = keyword(set, config.identity.dateKeyword), let day = Self.parseDate(dateText) else {
            throw SampleRejection(code: "E-NO-DATE", message: "no collection date in \(config.identity.dateKeyword)")
        }
        return (patient, day)
    }

    /// Values, QC flags and rejections from the gate counts (domain.md section 6).
    func derive(_ set: FCSDataSet, patient: String, day: Int, gating: GatingOutcome, displayName: String, sha256: String) throws -> SampleResult {
        var flags = gating.flags
        let applied = gating.adaptive
        func n(_ key: String) -> Int { gating.counts[config.gating.gates[key]!] ?? 0 }
        let beads = n("beads"), lymph = n("lymphocytes"), cd3 = n("cd3"), cd4 = n("cd4"), cd8 = n("cd8")
        let hladr = n("cd8Hladr"), cd25 = n("cd4Cd25")
        let qc = config.qc
        if lymph < qc.minLymphocytes {
            throw SampleRejection(code: "QC-LOW-LYMPHOCYTES", message: "\(lymph) lymphocytes acquired, fewer than the \(qc.minLymphocytes) required; no results")
        }
        let cd4Pct = 100 * Double(cd4) / Double(lymph)
        let cd8Pct = 100 * Double(cd8) / Double(lymph)
        let cd3Pct = 100 * Double(cd3) / Double(lymph)
        var cd4Abs: Double? = nil
        var cd8Abs: Double? = nil
        var method = "single-platform beads"
        if config.counting.method == "dual" {
            method = "dual-platform"
            if let c = cbc["\(patient)|\(day)"] {
                let lymphAbs = c.wbc * c.lymphPct / 100
                cd4Abs = lymphAbs * cd4Pct / 100
                cd8Abs = lymphAbs * cd8Pct / 100
            } else {
                flags.append("NO-CBC")
            }
        } else if beads < qc.minBeads {
            flags.append("LOW-BEADS")
        } else {
            var perTube: Double? = nil
            if let lot = keyword(set, config.counting.beadLotKeyword), let v = config.counting.beadLots[lot] { perTube = v }
            if perTube == nil { perTube = keyword(set, config.counting.beadsPerTubeKeyword).flatMap(Double.init) }
            let volume = keyword(set, config.counting.bloodVolumeKeyword).flatMap(Double.init) ?? config.counting.bloodVolumeMicroliters
            if let perTube, perTube > 0, volume > 0 {
                cd4Abs = Double(cd4) / Double(beads) * perTube / volume
                cd8Abs = Double(cd8) / Double(beads) * perTube / volume
            } else {
                flags.append("NO-BEAD-LOT")
            }
        }
        if cd4 == 0 || 1 / Double(cd4).squareRoot() > qc.maxCD4CountingCV { flags.append("CD4-LOW-COUNT") }
        if abs(cd4Pct + cd8Pct - cd3Pct) > qc.tCellSumTolerance { flags.append("TCELL-SUM") }
        for v in [cd4Abs, cd8Abs] {
            if let v, v > qc.maxAbsolute {
                throw SampleRejection(code: "QC-IMPLAUSIBLE", message: "absolute count \(Int(v))/uL is above \(Int(qc.maxAbsolute))/uL")
            }
        }
        return SampleResult(
            file: displayName, sha256: sha256, patient: patient, collectedDays: day, collected: CivilDate.iso(day), events: set.eventCount,
            beadEvents: beads, lymphocyteEvents: lymph, cd3Events: cd3, cd4Events: cd4, cd8Events: cd8, cd8HladrEvents: hladr, cd4Cd25Events: cd25,
            cd4Abs: cd4Abs, cd8Abs: cd8Abs, cd4Pct: cd4Pct, cd8Pct: cd8Pct, cd3Pct: cd3Pct,
            cd4cd8Ratio: (cd4Abs != nil && (cd8Abs ?? 0) > 0) ? cd4Abs! / cd8Abs! : (cd8 > 0 ? Double(cd4) / Double(cd8) : nil),
            cd8HladrPct: cd8 > 0 ? 100 * Double(hladr) / Double(cd8) : nil, cd4Cd25Pct: cd4 > 0 ? 100 * Double(cd25) / Double(cd4) : nil,
            method: method, qcFlags: flags, warnings: set.warnings.map(\.description), strategySHA256: strategySHA256,
            programVersion: ProgramInfo.version, gating: applied == nil ? "template" : "adaptive",
            appliedGatingML: applied.map { a in
                let methods = a.reports.map { r in
                    "  \(r.gate): \(r.method), confidence \(String(format: "%.2f", r.confidence))"
                }
                return GatingMLWriter.write(a.strategy, comment: (["Gates applied to this file by cytoingest adaptive gating", "flags: \(a.flags.joined(separator: ", ")); events excluded by time/flow QC: \(a.excluded)"] + methods).joined(separator: "\n"))
            })
    }

    /// Largest file adaptive gating loads whole (values); larger files are gated by the template.
    static let adaptiveMaxValues = 64 << 20

    /// The panel's columns for adaptive gating, by the names the strategy sees.
    func adaptiveChannels(_ names: [String]) -> AdaptiveGating.Channels? {
        func find(_ name: String) -> Int? { names.firstIndex { $0.caseInsensitiveCompare(name) == .orderedSame } }
        func scatter(_ prefix: String, _ suffix: String) -> Int? {
            find(prefix + suffix) ?? names.firstIndex { $0.uppercased().hasPrefix(prefix) && $0.uppercased().hasSuffix(suffix) }
        }
        guard let fscA = scatter("FSC", "-A"), let fscH = scatter("FSC", "-H"), let ssc = scatter("SSC", "-A") ?? find("SSC"),
            let cd45 = find("CD45"), let cd3 = find("CD3"), let cd4 = find("CD4"), let cd8 = find("CD8"), let dr = find("HLA-DR"), let cd25 = find("CD25")
        else { return nil }
        return AdaptiveGating.Channels(fscA: fscA, fscH: fscH, ssc: ssc, time: find("Time"), cd45: cd45, cd3: cd3, cd4: cd4, cd8: cd8, hladr: dr, cd25: cd25)
    }

    /// Whether adaptive gating can take this data set (size cap, panel channels present).
    func adaptiveApplies(to set: FCSDataSet) -> Bool {
        config.gating.mode == "adaptive" && set.eventCount * set.parameters.count <= Self.adaptiveMaxValues && adaptiveChannels(channelNames(set)) != nil
    }

    /// Adaptive gating of a whole file (nil: the file is too large or lacks panel channels).
    func adaptiveGating(reader: FCSReader, set: FCSDataSet) throws -> AdaptiveGating.Result? {
        guard set.eventCount * set.parameters.count <= Self.adaptiveMaxValues, adaptiveChannels(channelNames(set)) != nil else { return nil }
        return try adaptiveGating(columns: try reader.readEvents(values: .scaled).columns, set: set)
    }

    /// Adaptive gating of a data set's decoded columns (scaled values, `$PnN` order).
    func adaptiveGating(columns: [[Double]], set: FCSDataSet) throws -> AdaptiveGating.Result? {
        let names = channelNames(set)
        guard let channels = adaptiveChannels(names) else { return nil }
        var options = AdaptiveGating.Options()
        options.minConfidence = config.gating.minConfidence
        // The applied gates name the file's own channels ($PnN), so they replay on it as it is.
        return try AdaptiveGating.run(
            columns: columns, names: set.parameters.map(\.name), channels: channels, spillover: try set.spillover().map { try SpilloverMatrix(fcs: $0) },
            template: strategy, templateNames: names, ids: AdaptiveGating.IDs(config.gating.gates), options: options)
    }

}

/// SHA-256 of files (swift-crypto), streamed in 1 MiB chunks.
public enum FileHash {
    public static func sha256(path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw SampleRejection(code: "E-FILE-IO", message: "cannot open the file")
        }
        defer { try? h.close() }
        var hasher = SHA256Hasher()
        while true {
            let chunk = h.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hasher.hex()
    }
}
