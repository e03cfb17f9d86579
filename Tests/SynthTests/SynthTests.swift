import FCSParser
import Foundation
import Gating
import SafeXML
import Synth
import TestSupport
import Testing

@Suite("cytoingest synth")
struct SynthTests {
    static func options(_ configure: (inout SynthOptions) -> Void = { _ in }) -> SynthOptions {
        var o = SynthOptions()
        o.seed = 42
        o.patients = 2
        o.months = 3
        o.events = 6000
        configure(&o)
        return o
    }

    static func files(under dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
        for case let url as URL in e where !url.hasDirectoryPath {
            out[url.path.replacingOccurrences(of: dir.path, with: "")] = try Data(contentsOf: url)
        }
        return out
    }

    @Test("the same seed gives byte-identical output; another seed does not")
    func reproducible() async throws {
        let a = Paths.temporaryDirectory("synth-a"), b = Paths.temporaryDirectory("synth-b"),
            c = Paths.temporaryDirectory("synth-c")
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(at: d) } }
        try await CohortSynthesizer(options: Self.options()).write(to: a)
        try await CohortSynthesizer(options: Self.options()).write(to: b)
        try await CohortSynthesizer(options: Self.options { $0.seed = 43 }).write(to: c)
        let fa = try Self.files(under: a), fb = try Self.files(under: b), fc = try Self.files(under: c)
        #expect(fa.count == 6 * 2 + 8)  // FCS + labels, truth, registry, 2 lab XML, strategy, options, manual worksheet, pipeline.json
        #expect(fa == fb)
        #expect(fa["/fcs/P001_M00.fcs"] != fc["/fcs/P001_M00.fcs"])
    }

    static let variants: [SynthOptions] = [
        options(),
        options {
            $0.naming = .detector; $0.fcsVersion = .fcs3_0; $0.bigEndian = true
        },
        options {
            $0.dataType = .integer; $0.bits = 16; $0.gzip = true
        },
        options {
            $0.dataType = .integer; $0.bits = 32
        },
        options {
            $0.dataType = .double; $0.bits = 64; $0.naming = .detector
        },
    ]

    @Test(
        "files read back without warnings, labels give the truth exactly, the bundled strategy recovers it",
        arguments: variants)
    func truthAndGating(options: SynthOptions) async throws {
        let dir = Paths.temporaryDirectory("synth")
        defer { try? FileManager.default.removeItem(at: dir) }
        let truth = try await CohortSynthesizer(options: options).write(to: dir)
        let strategy = try GatingMLReader.read(path: dir.appendingPathComponent("panel.xml").path)
        let ids = truth.gateIDs
        for f in truth.files {
            let reader = try FCSReader(path: dir.appendingPathComponent(f.file).path)
            let set = reader.dataSets[0]
            #expect(set.warnings.isEmpty, "\(f.file): \(set.warnings)")
            #expect(set.eventCount == options.events)
            #expect(set.text["$SRC"] == f.patient)
            let spillKeyword = options.fcsVersion == .fcs3_0 ? "SPILL" : "$SPILLOVER"
            #expect(try set.spillover()?.keyword == spillKeyword)
            if options.naming == .detector {
                #expect(set.parameters[4].name == "FITC-A" && set.parameters[4].label == "CD3")
            }
            // Labels reproduce truth.json exactly.
            let labels = try String(contentsOf: dir.appendingPathComponent(f.labels), encoding: .utf8).split(
                separator: "\n"
            ).map { UInt8($0)! }
            #expect(labels.count == options.events)
            #expect(SampleTruth(labels: labels, beadsPerTube: f.beadsPerTube, bloodVolume: f.bloodVolumeUl) == f.truth)
            // The bundled strategy recovers every percentage within 1 point, abs CD4 within 5 %.
            let events = try reader.readEvents(values: .scaled)
            let spill = try set.spillover().map { try SpilloverMatrix(fcs: $0) }
            let engine = try GatingEngine(
                strategy: strategy, channels: set.parameters.map(\.name), labels: set.parameters.map(\.label),
                fcsSpillover: spill)
            let r = engine.evaluateSerially(EventTable(events))
            func n(_ key: String) -> Double { Double(r.count(ids[key]!)!) }
            let cd4Pct = 100 * n("cd4") / n("lymphocytes"), cd8Pct = 100 * n("cd8") / n("lymphocytes")
            let hladr = 100 * n("cd8Hladr") / n("cd8"), cd25 = 100 * n("cd4Cd25") / n("cd4")
            let cd4Abs = n("cd4") / n("beads") * f.beadsPerTube / f.bloodVolumeUl
            let t = f.truth
            #expect(abs(cd4Pct - t.cd4Pct) <= 1, "\(f.file) CD4% \(cd4Pct) vs \(t.cd4Pct)")
            #expect(abs(cd8Pct - t.cd8Pct) <= 1, "\(f.file) CD8% \(cd8Pct) vs \(t.cd8Pct)")
            #expect(abs(hladr - t.cd8HladrPct) <= 1, "\(f.file) HLA-DR \(hladr) vs \(t.cd8HladrPct)")
            #expect(abs(cd25 - t.cd4Cd25Pct) <= 1, "\(f.file) CD25 \(cd25) vs \(t.cd4Cd25Pct)")
            #expect(abs(cd4Abs - t.cd4Abs) <= 0.05 * t.cd4Abs, "\(f.file) abs CD4 \(cd4Abs) vs \(t.cd4Abs)")
        }
        // Lab XML is well-formed and carries every result.
        for name in ["labs/hivrna-export.xml", "labs/hivrna-fhir.xml"] {
            let root = try XMLNode.parse(try XMLEventReader(path: dir.appendingPathComponent(name).path))
            #expect(root.localName == (name.contains("fhir") ? "Bundle" : "HivRnaExport"))
        }
        let registry = try String(contentsOf: dir.appendingPathComponent("registry.csv"), encoding: .utf8)
        #expect(registry.hasPrefix("patient_id,day0,cycle_starts,dose_miu_per_day\n"))
        #expect(CSV.records(registry).count == options.patients)
    }

    @Test("cohort-level truth: strata, responders, month-0 baseline and monthly records")
    func cohortShape() async throws {
        let dir = Paths.temporaryDirectory("synth-shape")
        defer { try? FileManager.default.removeItem(at: dir) }
        let truth = try await CohortSynthesizer(
            options: Self.options {
                $0.patients = 8; $0.months = 8; $0.events = 3000
            }
        ).write(to: dir)
        #expect(truth.patients.filter(\.highStratum).allSatisfy { $0.baselineCD4 > 200 })
        #expect(truth.patients.filter { !$0.highStratum }.allSatisfy { $0.baselineCD4 <= 200 })
        #expect(
            truth.patients.contains { $0.responder } && truth.patients.filter(\.responder).allSatisfy(\.highStratum))
        #expect(truth.records.count == 64)
        for p in truth.patients where p.responder {
            let recs = truth.records.filter { $0.patient == p.id }.sorted { $0.month < $1.month }
            #expect(recs.last!.cd4Abs >= 1.4 * recs.first!.cd4Abs, "\(p.id) responder CD4 rise")
            #expect(recs.last!.cd4Cd25Pct > recs.first!.cd4Cd25Pct)
            #expect(recs.last!.cd8HladrPct < recs.first!.cd8HladrPct)
        }
        #expect(truth.hivRna.contains { $0.onInfusion })
        #expect(
            truth.hivRna.contains { $0.outcome == "below_limit" }
                && truth.hivRna.contains { $0.outcome == "not_detected" })
    }

    @Test("the committed fixture cohort equals its generator")
    func committedCohort() async throws {
        let committed = Paths.fixtures.appendingPathComponent("cohort")
        let data = try Data(contentsOf: committed.appendingPathComponent("synth-options.json"))
        let options = try JSONDecoder().decode(SynthOptions.self, from: data)
        let dir = Paths.temporaryDirectory("synth-fixture")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await CohortSynthesizer(options: options).write(to: dir)
        let regenerated = try Self.files(under: dir)
        var onDisk = try Self.files(under: committed)
        onDisk["/README.md"] = nil
        // The FlowJo workspace is written by its own test (OwnWorkspaceTests.mappedWorkspace).
        onDisk = onDisk.filter { !$0.key.hasPrefix("/flowjo/") }
        #expect(onDisk == regenerated, "fixtures/cohort differs from `cytoingest synth` with its synth-options.json")
    }
}
