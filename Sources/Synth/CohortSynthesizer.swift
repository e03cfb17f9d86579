import CytoModel
import Deflate
import FCSParser
import Foundation
import Gating

/// Per-file truth with its identity.
public struct FileTruth: Sendable, Codable, Hashable {
    public var file: String
    public var labels: String
    public var patient: String
    public var month: Int
    public var collected: String
    public var beadsPerTube: Double
    public var bloodVolumeUl: Double
    public var truth: SampleTruth
    /// Instrument, drift and fault of the tube (nil for an undrifted single-instrument cohort).
    public var conditions: TubeConditions?
    /// The QC flags a correct pipeline raises (nil when none).
    public var expectedFlags: [String]?
}

/// An HIV RNA result of the synthetic cohort.
public struct RNAResult: Sendable, Codable, Hashable {
    public var id: String
    public var patient: String
    public var specimen: String
    public var collectedDay: Int
    public var collected: String
    /// "quantified", "below_limit", "not_detected".
    public var outcome: String
    public var copies: Double?
    public var log10: Double?
    public var limit: Double?
    /// Drawn at the end of an infusion (peri-infusion, not a monthly value).
    public var onInfusion: Bool
}

/// True monthly record values (from the month's file and the month's RNA draw).
public struct RecordTruth: Sendable, Codable, Hashable {
    public var patient: String
    public var month: Int
    public var targetDate: String
    public var cd4Abs: Double
    public var cd4Pct: Double
    public var cd8Abs: Double
    public var cd8Pct: Double
    public var cd4cd8Ratio: Double
    public var cd8HladrPct: Double
    public var cd4Cd25Pct: Double
    public var hivRnaCopies: Double?
    public var hivRnaLog10: Double?
    public var hivRnaCensor: String
}

public struct CohortTruth: Sendable, Codable {
    public var schemaVersion = 1
    public var options: SynthOptions
    public var populationCodes: [String: Int]
    public var patients: [PatientPlan]
    public var files: [FileTruth]
    public var records: [RecordTruth]
    public var hivRna: [RNAResult]
    /// Gate ids of the bundled strategy for the pipeline's populations.
    public var gateIDs: [String: String]
}

/// Writes a synthetic cohort: FCS files, label files, lab XML (neutral and FHIR R4), the
/// patient registry, a Gating-ML strategy for the panel and `truth.json`. Reproducible: the
/// same options give byte-identical output.
public struct CohortSynthesizer: Sendable {
    public let options: SynthOptions

    public init(options: SynthOptions) { self.options = options }

    public static let gateIDs = [
        "beads": "Beads", "singlets": "Singlets", "lymphocytes": "Lymphocytes", "cd3": "CD3", "cd4": "CD4T",
        "cd8": "CD8T",
        "cd8Hladr": "CD8_HLADR", "cd4Cd25": "CD4_CD25",
    ]

    func fileName(_ p: PatientPlan, _ m: Int) -> String {
        "\(p.id)_M\(m < 10 ? "0" : "")\(m).fcs" + (options.gzip ? ".gz" : "")
    }

    /// Generates and writes everything under `directory`. Returns the truth.
    @discardableResult
    public func write(to directory: URL) async throws -> CohortTruth {
        let fm = FileManager.default
        for sub in ["fcs", "labels", "labs"] {
            try fm.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let plans = CohortPlanner.plan(options)
        var jobs: [(PatientPlan, Int)] = []
        for p in plans { for m in 0..<options.months { jobs.append((p, m)) } }
        let faults = Self.faultAssignment(jobs: jobs.count, options: options)
        // Files in parallel (2 workers); each file has its own random stream.
        let options = self.options
        let results = try await withThrowingTaskGroup(of: (Int, FileTruth).self) { group in
            var next = 0
            var out: [(Int, FileTruth)] = []
            let width = max(1, ProcessInfo.processInfo.activeProcessorCount)
            func add() {
                guard next < jobs.count else { return }
                let index = next
                let (p, m) = jobs[index]
                let fault = faults[index]
                group.addTask {
                    (
                        index,
                        try CohortSynthesizer(options: options).writeFile(
                            p, month: m, fault: fault, directory: directory)
                    )
                }
                next += 1
            }
            for _ in 0..<width { add() }
            while let r = try await group.next() {
                out.append(r)
                add()
            }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        let rna = rnaResults(plans)
        let truth = CohortTruth(
            options: options,
            populationCodes: Dictionary(
                uniqueKeysWithValues: Panel.Population.allCases.map { ($0.name, Int($0.rawValue)) }),
            patients: plans, files: results, records: records(plans, results, rna), hivRna: rna, gateIDs: Self.gateIDs)
        try writeText(jsonString(truth), to: directory.appendingPathComponent("truth.json"))
        try writeText(registryCSV(plans), to: directory.appendingPathComponent("registry.csv"))
        try writeText(neutralXML(plans, rna), to: directory.appendingPathComponent("labs/hivrna-export.xml"))
        try writeText(fhirXML(plans, rna), to: directory.appendingPathComponent("labs/hivrna-fhir.xml"))
        try writeText(try strategyXML(), to: directory.appendingPathComponent("panel.xml"))
        try writeText(manualCSV(results), to: directory.appendingPathComponent("manual-gating.csv"))
        try writeText(jsonString(options), to: directory.appendingPathComponent("synth-options.json"))
        var markerNamed = options
        markerNamed.naming = .marker
        markerNamed.alternateLayout = nil
        if options.naming != .marker || options.alternateLayout == true {
            try writeText(
                try CohortSynthesizer(options: markerNamed).strategyXML(),
                to: directory.appendingPathComponent("panel-markers.xml"))
        }
        try writeText(pipelineJSON(), to: directory.appendingPathComponent("pipeline.json"))
        return truth
    }

    /// A working `pipeline.json` for the cohort: channels found by marker (`$PnN` or `$PnS`) on
    /// both instruments, the panel strategy (by marker names), the registry and the neutral lab
    /// export; adaptive gating when the cohort drifts. `cytoingest run` in the folder ingests it.
    func pipelineJSON() -> String {
        let markerStrategy =
            options.naming == .marker && options.alternateLayout != true ? "panel.xml" : "panel-markers.xml"
        let markers = Panel.markers.map { "      \"\($0)\": [\"\($0)\"]" }.joined(separator: ",\n")
        let gates = [
            ("beads", "Beads"), ("lymphocytes", "Lymphocytes"), ("cd3", "CD3"), ("cd4", "CD4T"), ("cd8", "CD8T"),
            ("cd8Hladr", "CD8_HLADR"), ("cd4Cd25", "CD4_CD25"),
        ].map { "      \"\($0.0)\": \"\(Self.gateIDs[$0.0] ?? $0.1)\"" }.joined(separator: ",\n")
        let instruments =
            (options.instruments ?? 1) > 1
            ? ",\n    \"instruments\": [\n      {\"name\": \"Attune NxT\", \"cyt\": \"Attune*\", \"strategy\": \"\(markerStrategy)\"}\n    ]"
            : ""
        return """
            {
              "version": 1,
              "inputs": {"fcs": ["fcs"], "labs": ["labs/hivrna-export.xml"]},
              "identity": {"patientKeyword": "$SRC", "dateKeyword": "$DATE"},
              "registry": "registry.csv",
              "panel": {
                "markers": {
            \(markers)
                }
              },
              "gating": {
                "mode": "\(options.drift == nil ? "template" : "adaptive")",
                "strategy": "\(markerStrategy)",
                "gates": {
            \(gates)
                }\(instruments)
              },
              "counting": {"beadLots": {"\(options.beadLot)": \(formatted(options.beadsPerTube))}},
              "labs": {"patientIdentifierSystem": "urn:x-synthetic:study-subject"},
              "store": {"sqlite": "cytoingest.sqlite"}
            }

            """
    }

    /// The true populations as a lab's manual-gating worksheet (`cytoingest validate --manual`):
    /// counts, percentages of the parent (2 decimals) and absolute counts (cells/uL, whole).
    func manualCSV(_ files: [FileTruth]) -> String {
        var out =
            "# True populations of the synthetic cohort, written by cytoingest synth as a manual-gating worksheet\n"
        out += "sample,population,count,percent,absolute\n"
        func pct(_ v: Double) -> String { String(format: "%.2f", v) }
        for f in files {
            let t = f.truth
            let name = String(f.file.split(separator: "/").last!)
            let hladr = t.populations[Panel.Population.cd8THLADR.name] ?? 0
            let cd25 = t.populations[Panel.Population.cd4TCD25.name] ?? 0
            out += "\(name),beads,\(t.beadEvents),,\n"
            out += "\(name),lymphocytes,\(t.lymphocyteEvents),,\n"
            out += "\(name),cd4,\(t.cd4Events),\(pct(t.cd4Pct)),\(String(format: "%.0f", t.cd4Abs))\n"
            out += "\(name),cd8,\(t.cd8Events),\(pct(t.cd8Pct)),\(String(format: "%.0f", t.cd8Abs))\n"
            out += "\(name),cd8Hladr,\(hladr),\(pct(t.cd8HladrPct)),\n"
            out += "\(name),cd4Cd25,\(cd25),\(pct(t.cd4Cd25Pct)),\n"
        }
        return out
    }

    func jsonString<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self) + "\n"
    }

    func writeText(_ s: String, to url: URL) throws { try Data(s.utf8).write(to: url) }

    // MARK: FCS files

    /// Which files carry a QC fault (`--qc-faults K`): K distinct files, faults in turn.
    static func faultAssignment(jobs: Int, options: SynthOptions) -> [TubeConditions.Fault?] {
        var out = [TubeConditions.Fault?](repeating: nil, count: jobs)
        let k = min(options.qcFaults ?? 0, jobs)
        guard k > 0 else { return out }
        var rng = Xoshiro(seed: options.seed, stream: [0xFA_017])
        var indices = Array(0..<jobs)
        for i in 0..<k {
            let j = i + Int(rng.next() % UInt64(jobs - i))
            indices.swapAt(i, j)
            out[indices[i]] = [TubeConditions.Fault.lowBeads, .lowLymphocytes, .clog][i % 3]
        }
        return out
    }

    /// The tube's instrument, drift and event count (identity, `events` without the options).
    func conditions(_ p: PatientPlan, month m: Int, fault: TubeConditions.Fault?) -> (TubeConditions, Int) {
        var c = TubeConditions.identity
        var events = options.events
        let drift = options.drift ?? .none
        guard drift != .none || (options.instruments ?? 1) > 1 || options.eventsRange != nil || fault != nil else {
            return (c, events)
        }
        var rng = Xoshiro(seed: options.seed, stream: [0xD81F7, UInt64(p.day0), UInt64(m)])
        if (options.instruments ?? 1) > 1 { c.instrument = 1 + Int(rng.next() % 2) }
        // Detector gains x0.6-1.6 (strong) or x0.87-1.15 (mild), scatter gains x0.8-1.25 or
        // x0.95-1.05, per-tube staining shifts up to 0.3 or 0.1 decades.
        let (gain, scatter, stain): ((Double, Double), (Double, Double), Double) =
            drift == .strong
            ? ((0.6, 1.6), (0.8, 1.25), 0.3) : drift == .mild ? ((0.87, 1.15), (0.95, 1.05), 0.1) : ((1, 1), (1, 1), 0)
        func logUniform(_ r: (Double, Double)) -> Double {
            r.0 == r.1 ? r.0 : exp(log(r.0) + rng.uniform() * (log(r.1) - log(r.0)))
        }
        for d in 0..<Panel.markers.count { c.detectorGains[d] = logUniform(gain) }
        c.fscGain = logUniform(scatter)
        c.sscGain = logUniform(scatter)
        for d in 0..<Panel.markers.count { c.stainShift[d] = stain == 0 ? 0 : (rng.uniform() * 2 - 1) * stain }
        if let r = options.eventsRange, r.count == 2, r[1] >= r[0] {
            events = r[0] + Int(rng.next() % UInt64(r[1] - r[0] + 1))
        }
        c.fault = fault
        return (c, events)
    }

    func writeFile(
        _ p: PatientPlan, month m: Int, fault: TubeConditions.Fault? = nil, directory: URL
    ) throws -> FileTruth {
        let day = CohortPlanner.visitDay(p, month: m, seed: options.seed)
        let targets = CohortPlanner.targets(p, month: m, seed: options.seed)
        var rng = Xoshiro(seed: options.seed, stream: [0xFC5, UInt64(p.day0), UInt64(m)])
        let (c, events) = conditions(p, month: m, fault: fault)
        let generated = SampleGenerator(options: options).generate(targets, events: events, conditions: c, rng: &rng)
        let labels = generated.labels
        var columns = generated.columns
        let name = fileName(p, m)
        let alternate = options.alternateLayout == true
        var names = Panel.channelNames(naming: options.naming)
        if alternate && options.naming == .marker {
            for d in 0..<Panel.markers.count {
                names[3 + d] = Panel.markers[Panel.marker(onDetector: d, alternate: true)]
            }
        }
        var spillChannels = Array(names[3..<(3 + Panel.markers.count)])
        var spill = Panel.spillover(instrument: c.instrument)
        if c != .identity {
            // The file's spillover is the drifted instrument's: S'[i][j] = S[i][j] g_j / g_i.
            for i in spill.indices {
                for j in spill[i].indices { spill[i][j] *= c.detectorGains[j] / c.detectorGains[i] }
            }
        }
        var labelsOf: [String?] = names.indices.map { i in
            options.naming == .detector && i >= 3 && i < 3 + Panel.markers.count
                ? Panel.markers[Panel.marker(onDetector: i - 3, alternate: alternate)] : nil
        }
        if c.instrument == 2 {
            // Other detector names and order; markers in $PnS.
            let order = Panel.instrument2Order
            let marker = columns[3..<(3 + Panel.markers.count)].map { $0 }
            for (k, m) in order.enumerated() { columns[3 + k] = marker[m] }
            names = Panel.scatter + order.map { Panel.instrument2Detectors[$0] } + ["Time"]
            labelsOf = names.indices.map { i in
                i >= 3 && i < 3 + Panel.markers.count
                    ? Panel.markers[Panel.marker(onDetector: order[i - 3], alternate: alternate)] : nil
            }
            spillChannels = Panel.instrument2Detectors
        }
        var params: [FCSWriteParameter] = []
        for (i, n) in names.enumerated() {
            var w = FCSWriteParameter(name: n, bits: options.bits, range: 262_144)
            w.label = labelsOf[i]
            if n == "Time" { w.range = 16_384 }
            if options.dataType == .integer && options.bits == 16 { w.gain = n == "Time" ? nil : 0.25 }
            params.append(w)
        }
        var o = FCSWriteOptions()
        o.version = options.fcsVersion
        o.dataType = options.dataType
        o.byteOrder = options.bigEndian ? .bigEndian : .littleEndian
        o.spillover = FCSSpillover(channels: spillChannels, matrix: spill, keyword: "")
        let specimen = "S-\(p.id)-M\(m)"
        for (k, v) in [
            ("$CYT", c.instrument == 2 ? "Attune NxT (synthetic)" : "FACSCanto II (synthetic)"),
            ("$CYTSN", c.instrument == 2 ? "SYN-ATTUNE-02" : "SYN-CANTO-01"), ("$SRC", p.id), ("PATIENT ID", p.id),
            ("$SMNO", specimen),
            ("$DATE", CivilDate.fcs(day)), ("$BTIM", "08:30:00"), ("$ETIM", "08:32:00"),
            ("$FIL", String(name.prefix { $0 != "." }) + ".fcs"),
            ("$TIMESTEP", "0.01"), ("BEADS PER TUBE", formatted(options.beadsPerTube)), ("BEAD LOT", options.beadLot),
            ("BLOOD VOLUME UL", formatted(options.bloodVolumeMicroliters)),
            ("TUBE NAME", "CD45/CD3/CD4/CD8/HLA-DR/CD25 TruCOUNT"),
        ] { o.add(k, v) }
        var stored = columns
        if options.dataType == .integer {
            let maxValue = options.bits == 16 ? 65535.0 : 4_294_967_295.0
            for c in stored.indices {
                let scale = options.bits == 16 && c != stored.count - 1 ? 0.25 : 1.0
                for e in stored[c].indices { stored[c][e] = min(max((stored[c][e] * scale).rounded(), 0), maxValue) }
            }
        }
        var bytes = try FCSWriter.encode(columns: stored, parameters: params, options: o)
        if options.gzip { bytes = try Gzip.compress(bytes) }
        try Data(bytes).write(to: directory.appendingPathComponent("fcs/\(name)"))
        let labelName = "\(p.id)_M\(m < 10 ? "0" : "")\(m).labels"
        var text = ""
        text.reserveCapacity(labels.count * 3)
        for l in labels {
            text += String(l)
            text += "\n"
        }
        try Data(text.utf8).write(to: directory.appendingPathComponent("labels/\(labelName)"))
        return FileTruth(
            file: "fcs/\(name)", labels: "labels/\(labelName)", patient: p.id, month: m, collected: CivilDate.iso(day),
            beadsPerTube: options.beadsPerTube, bloodVolumeUl: options.bloodVolumeMicroliters,
            truth: SampleTruth(
                labels: labels, beadsPerTube: options.beadsPerTube, bloodVolume: options.bloodVolumeMicroliters),
            conditions: c == .identity ? nil : c, expectedFlags: c.expectedFlags.isEmpty ? nil : c.expectedFlags)
    }

    func formatted(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

    // MARK: HIV RNA

    func rnaResults(_ plans: [PatientPlan]) -> [RNAResult] {
        var out: [RNAResult] = []
        var counter = 0
        for p in plans {
            var rng = Xoshiro(seed: options.seed, stream: [0x4E4A, UInt64(p.day0)])
            var draws: [(day: Int, onInfusion: Bool, month: Int)] = (0..<options.months).map {
                (CohortPlanner.visitDay(p, month: $0, seed: options.seed), false, $0)
            }
            if p.infusionRise {
                for start in p.cycleStarts where start + 4 <= p.day0 + 28 * (options.months - 1) {
                    draws.append((start + 4, true, -1))
                }
            }
            draws.sort { $0.day < $1.day }
            for d in draws {
                counter += 1
                let id = String(format: "SYN-R%05d", counter)
                let months = Double(max(0, d.day - p.day0)) / 28
                var log = p.rnaLog10Base + rng.normal(0, 0.12) - (p.responder ? 0.15 * (1 - exp(-months / 3)) : 0)
                if d.onInfusion { log += 0.75 }
                var r = RNAResult(
                    id: id, patient: p.id, specimen: "S-\(p.id)-D\(d.day - p.day0 + 100)", collectedDay: d.day,
                    collected: CivilDate.iso(d.day),
                    outcome: "quantified", copies: nil, log10: nil, limit: nil, onInfusion: d.onInfusion)
                if p.suppressed && !d.onInfusion {
                    r.outcome = d.month % 2 == 0 ? "below_limit" : "not_detected"
                    r.limit = 20
                } else {
                    let copies = max(20, (pow(10, log)).rounded())
                    r.copies = copies
                    r.log10 = Foundation.log10(copies)
                }
                out.append(r)
            }
        }
        return out
    }

    func records(_ plans: [PatientPlan], _ files: [FileTruth], _ rna: [RNAResult]) -> [RecordTruth] {
        var out: [RecordTruth] = []
        for p in plans {
            for m in 0..<options.months {
                guard let f = files.first(where: { $0.patient == p.id && $0.month == m }) else { continue }
                let day = CohortPlanner.visitDay(p, month: m, seed: options.seed)
                let r = rna.first { $0.patient == p.id && $0.collectedDay == day && !$0.onInfusion }
                let t = f.truth
                out.append(
                    RecordTruth(
                        patient: p.id, month: m, targetDate: CivilDate.iso(p.day0 + 28 * m), cd4Abs: t.cd4Abs,
                        cd4Pct: t.cd4Pct, cd8Abs: t.cd8Abs,
                        cd8Pct: t.cd8Pct, cd4cd8Ratio: t.cd4Abs / t.cd8Abs, cd8HladrPct: t.cd8HladrPct,
                        cd4Cd25Pct: t.cd4Cd25Pct,
                        hivRnaCopies: r?.copies, hivRnaLog10: r?.log10,
                        hivRnaCensor: r.map {
                            $0.outcome == "below_limit" ? "lt" : $0.outcome == "not_detected" ? "nd" : "none"
                        } ?? "none"))
            }
        }
        return out
    }

    func registryCSV(_ plans: [PatientPlan]) -> String {
        var s = "patient_id,day0,cycle_starts,dose_miu_per_day\n"
        for p in plans {
            s +=
                "\(p.id),\(CivilDate.iso(p.day0)),\(p.cycleStarts.map(CivilDate.iso).joined(separator: ";")),\(formatted(p.doseMIUPerDay))\n"
        }
        return s
    }

    func neutralXML(_ plans: [PatientPlan], _ rna: [RNAResult]) -> String {
        let last = rna.map(\.collectedDay).max() ?? CohortPlanner.studyStart
        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- SYNTHETIC TEST DATA written by cytoingest synth (seed \(options.seed)); invented patients. -->
            <HivRnaExport xmlns="urn:hivrna-export:v1" schemaVersion="1.0" exportId="SYN-EXP-\(options.seed)" createdAt="\(CivilDate.iso(last + 10))T12:00:00Z">
              <Source>
                <Laboratory id="LAB-SYN-01">Synthetic Virology Laboratory</Laboratory>
                <Instrument vendor="Roche" model="COBAS AmpliPrep/COBAS TaqMan 48" serialNumber="SYN-CTM-0001"/>
              </Source>
              <Assays>
                <Assay id="A-CAPCTM2" kit="COBAS AmpliPrep/COBAS TaqMan HIV-1 Test" kitVersion="2.0" unit="copies/mL" lod="20" lloq="20" uloq="10000000" iuPerCopy="1.7" sampleVolumeMl="1.0"/>
              </Assays>

            """
        for r in rna {
            let resulted = CivilDate.iso(r.collectedDay + 3)
            s += """
                  <Run id="RUN-\(r.id)" assayRef="A-CAPCTM2" instrumentSerial="SYN-CTM-0001" completedAt="\(resulted)T15:00:00Z" runStatus="valid">
                    <Result id="\(r.id)">
                      <PatientId>\(r.patient)</PatientId>
                      <SpecimenId>\(r.specimen)</SpecimenId>
                      <SpecimenType>plasma-EDTA</SpecimenType>
                      <CollectedAt>\(r.collected)T08:30:00Z</CollectedAt>
                      <ResultedAt>\(resulted)T16:00:00Z</ResultedAt>
                      <Status>final</Status>

                """
            switch r.outcome {
            case "quantified":
                s += "          <Quantified unit=\"copies/mL\">\(formatted(r.copies!))</Quantified>\n"
                s += "          <Log10>\(String(format: "%.2f", r.log10!))</Log10>\n"
            case "below_limit":
                s += "          <BelowLimit unit=\"copies/mL\" limit=\"20\" detected=\"true\"/>\n"
                s += "          <InstrumentText>&lt; 2.00E+01 cp/mL</InstrumentText>\n"
            default:
                s += "          <NotDetected unit=\"copies/mL\" limit=\"20\"/>\n"
                s += "          <InstrumentText>Target Not Detected</InstrumentText>\n"
            }
            if r.onInfusion { s += "          <Comment>Drawn at the end of an IL-2 infusion</Comment>\n" }
            s += "        </Result>\n      </Run>\n"
        }
        return s + "</HivRnaExport>\n"
    }

    func fhirXML(_ plans: [PatientPlan], _ rna: [RNAResult]) -> String {
        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- SYNTHETIC TEST DATA written by cytoingest synth (seed \(options.seed)); invented patients. -->
            <Bundle xmlns="http://hl7.org/fhir">
              <id value="synth-\(options.seed)"/>
              <type value="collection"/>

            """
        for p in plans {
            s += """
                  <entry>
                    <fullUrl value="urn:x-synth:patient:\(p.id)"/>
                    <resource>
                      <Patient>
                        <id value="\(p.id)"/>
                        <identifier><system value="urn:x-synthetic:study-subject"/><value value="\(p.id)"/></identifier>
                      </Patient>
                    </resource>
                  </entry>

                """
        }
        for r in rna {
            s += """
                  <entry>
                    <fullUrl value="urn:x-synth:observation:\(r.id)"/>
                    <resource>
                      <Observation>
                        <id value="F\(r.id)"/>
                        <identifier><system value="urn:x-synthetic:lab-result-id"/><value value="F\(r.id)"/></identifier>
                        <status value="final"/>
                        <code><coding><system value="http://loinc.org"/><code value="20447-9"/></coding></code>
                        <subject><reference value="urn:x-synth:patient:\(r.patient)"/></subject>
                        <effectiveDateTime value="\(r.collected)T08:30:00Z"/>
                        <issued value="\(CivilDate.iso(r.collectedDay + 3))T16:00:00Z"/>

                """
            switch r.outcome {
            case "quantified":
                s +=
                    "          <valueQuantity><value value=\"\(formatted(r.copies!))\"/><unit value=\"copies/mL\"/><system value=\"http://unitsofmeasure.org\"/><code value=\"{copies}/mL\"/></valueQuantity>\n"
            case "below_limit":
                s +=
                    "          <valueQuantity><value value=\"20\"/><comparator value=\"&lt;\"/><unit value=\"copies/mL\"/><system value=\"http://unitsofmeasure.org\"/><code value=\"{copies}/mL\"/></valueQuantity>\n"
                s +=
                    "          <interpretation><coding><system value=\"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation\"/><code value=\"DET\"/></coding></interpretation>\n"
            default:
                s +=
                    "          <valueCodeableConcept><coding><system value=\"http://snomed.info/sct\"/><code value=\"260415000\"/><display value=\"Not detected\"/></coding></valueCodeableConcept>\n"
                s +=
                    "          <interpretation><coding><system value=\"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation\"/><code value=\"ND\"/></coding></interpretation>\n"
            }
            s += "          <method><text value=\"COBAS AmpliPrep/COBAS TaqMan HIV-1 Test, v2.0\"/></method>\n"
            s +=
                "          <specimen><identifier><system value=\"urn:x-synthetic:accession\"/><value value=\"\(r.specimen)\"/></identifier></specimen>\n"
            s += "        </Observation>\n      </resource>\n    </entry>\n"
        }
        return s + "</Bundle>\n"
    }

    // MARK: Gating-ML

    /// The panel strategy: beads, singlets (FSC-A/FSC-H ratio), lymphocytes (CD45 bright, SSC
    /// low), CD3+, a CD4/CD8 quadrant gate, HLA-DR+ in CD8 T, CD25+ in CD4 T. Fluorescence is
    /// compensated with the file's $SPILLOVER and logicle-transformed; thresholds are stored on
    /// the logicle scale.
    public func strategyXML() throws -> String {
        let logicle = try Transformation(.logicle(t: 262_144, w: 0.5, m: 4.5, a: 0))
        func at(_ value: Double) -> String { String(format: "%.6f", logicle.apply(value)) }
        func ch(_ marker: String) -> String {
            Panel.channel(marker, naming: options.naming, alternate: options.alternateLayout == true)
        }
        func fl(_ marker: String, min: String? = nil, max: String? = nil) -> String {
            var a = #"gating:compensation-ref="FCS" gating:transformation-ref="Logicle""#
            if let min { a += #" gating:min="\#(min)""# }
            if let max { a += #" gating:max="\#(max)""# }
            return
                #"    <gating:dimension \#(a)><data-type:fcs-dimension data-type:name="\#(ch(marker))"/></gating:dimension>"#
        }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- CD4/activation panel strategy written by cytoingest synth (naming: \(options.naming.rawValue)). -->
            <gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
                xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
                xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
              <transforms:transformation transforms:id="Logicle">
                <transforms:logicle transforms:T="262144" transforms:W="0.5" transforms:M="4.5" transforms:A="0"/>
              </transforms:transformation>
              <transforms:transformation transforms:id="SingletRatio">
                <transforms:fratio transforms:A="1" transforms:B="0" transforms:C="0">
                  <data-type:fcs-dimension data-type:name="FSC-A"/>
                  <data-type:fcs-dimension data-type:name="FSC-H"/>
                </transforms:fratio>
              </transforms:transformation>
              <gating:RectangleGate gating:id="Beads">
            \(fl("CD25", min: at(10_000)))
            \(fl("CD3", min: at(10_000)))
                <gating:dimension gating:compensation-ref="uncompensated" gating:min="40000" gating:max="90000">
                  <data-type:fcs-dimension data-type:name="SSC-A"/>
                </gating:dimension>
              </gating:RectangleGate>
              <gating:RectangleGate gating:id="Singlets">
                <gating:dimension gating:compensation-ref="uncompensated" gating:min="0.85" gating:max="1.3">
                  <data-type:new-dimension data-type:transformation-ref="SingletRatio"/>
                </gating:dimension>
              </gating:RectangleGate>
              <gating:BooleanGate gating:id="Cells">
                <gating:and>
                  <gating:gateReference gating:ref="Singlets"/>
                  <gating:gateReference gating:ref="Beads" gating:use-as-complement="true"/>
                </gating:and>
              </gating:BooleanGate>
              <gating:RectangleGate gating:id="Lymphocytes" gating:parent_id="Cells">
            \(fl("CD45", min: at(1000)))
                <gating:dimension gating:compensation-ref="uncompensated" gating:max="28000">
                  <data-type:fcs-dimension data-type:name="SSC-A"/>
                </gating:dimension>
              </gating:RectangleGate>
              <gating:RectangleGate gating:id="CD3" gating:parent_id="Lymphocytes">
            \(fl("CD3", min: at(630)))
              </gating:RectangleGate>
              <gating:QuadrantGate gating:id="CD4CD8" gating:parent_id="CD3">
                <gating:divider gating:id="CD4div" gating:compensation-ref="FCS" gating:transformation-ref="Logicle">
                  <data-type:fcs-dimension data-type:name="\(ch("CD4"))"/>
                  <gating:value>\(at(500))</gating:value>
                </gating:divider>
                <gating:divider gating:id="CD8div" gating:compensation-ref="FCS" gating:transformation-ref="Logicle">
                  <data-type:fcs-dimension data-type:name="\(ch("CD8"))"/>
                  <gating:value>\(at(500))</gating:value>
                </gating:divider>
                <gating:Quadrant gating:id="CD4T">
                  <gating:position gating:divider_ref="CD4div" gating:location="1"/>
                  <gating:position gating:divider_ref="CD8div" gating:location="0"/>
                </gating:Quadrant>
                <gating:Quadrant gating:id="CD8T">
                  <gating:position gating:divider_ref="CD4div" gating:location="0"/>
                  <gating:position gating:divider_ref="CD8div" gating:location="1"/>
                </gating:Quadrant>
                <gating:Quadrant gating:id="DNT">
                  <gating:position gating:divider_ref="CD4div" gating:location="0"/>
                  <gating:position gating:divider_ref="CD8div" gating:location="0"/>
                </gating:Quadrant>
                <gating:Quadrant gating:id="DPT">
                  <gating:position gating:divider_ref="CD4div" gating:location="1"/>
                  <gating:position gating:divider_ref="CD8div" gating:location="1"/>
                </gating:Quadrant>
              </gating:QuadrantGate>
              <gating:RectangleGate gating:id="CD8_HLADR" gating:parent_id="CD8T">
            \(fl("HLA-DR", min: at(400)))
              </gating:RectangleGate>
              <gating:RectangleGate gating:id="CD4_CD25" gating:parent_id="CD4T">
            \(fl("CD25", min: at(316)))
              </gating:RectangleGate>
            </gating:Gating-ML>

            """
    }
}
