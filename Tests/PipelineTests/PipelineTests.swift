import Analysis
import CytoModel
import Foundation
import Gating
import Glibc
import Labs
import Review
import Store
import Synth
import TestSupport
import Testing

@testable import Pipeline
@testable import Records

#if canImport(Glibc)
#endif

/// End to end on the synthetic fixture cohort: accuracy against truth, idempotence,
/// supersede, missing files, rejections, the lock, and kill -9 recovery.
@Suite("cytoingest run", .serialized)
struct PipelineTests {
    /// A private copy of the fixture cohort with a configuration pointing at it.
    static func workspace(_ tag: String, cohort: URL = Paths.fixtures.appendingPathComponent("cohort")) throws -> URL {
        let dir = Paths.temporaryDirectory(tag)
        let dest = dir.appendingPathComponent("cohort")
        try FileManager.default.copyItem(at: cohort, to: dest)
        var text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "fixtures/cohort", with: "cohort")
        try Data(text.utf8).write(to: dir.appendingPathComponent("pipeline.json"))
        return dir
    }

    static func config(_ dir: URL) throws -> PipelineConfiguration {
        try PipelineConfiguration.load(path: dir.appendingPathComponent("pipeline.json").path)
    }

    static func run(_ dir: URL, database: String? = nil) async throws -> RunSummary {
        var o = IngestPipeline.Options()
        o.now = ISO8601DateFormatter().date(from: "2024-12-31T00:00:00Z")!
        return try await IngestPipeline(config: try config(dir), databasePath: database, options: o).run()
    }

    static func store(_ dir: URL, _ name: String = "cytoingest.sqlite") throws -> SQLiteRecordStore {
        try SQLiteRecordStore(path: dir.appendingPathComponent(name).path)
    }

    @Test("derived values match truth: percentages within 1 point, absolute counts within 5 %")
    func accuracy() async throws {
        let dir = try Self.workspace("accuracy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let summary = try await Self.run(dir)
        #expect(summary.newFiles == 24 && summary.rejectedFiles == 0 && !summary.hadRejections)
        let truth = try JSONDecoder().decode(
            CohortTruth.self, from: Data(contentsOf: dir.appendingPathComponent("cohort/truth.json")))
        let samples = try Self.store(dir).samples()
        #expect(samples.count == 24)
        for f in truth.files {
            let s = try #require(samples.first { $0.file == "cohort/" + f.file })
            let t = f.truth
            #expect(s.patient == f.patient)
            #expect(s.collected == f.collected)
            #expect(abs(s.cd4Pct - t.cd4Pct) <= 1, "\(f.file) CD4%")
            #expect(abs(s.cd8Pct - t.cd8Pct) <= 1, "\(f.file) CD8%")
            #expect(abs(s.cd8HladrPct! - t.cd8HladrPct) <= 1, "\(f.file) HLA-DR")
            #expect(abs(s.cd4Cd25Pct! - t.cd4Cd25Pct) <= 1, "\(f.file) CD25")
            #expect(abs(s.cd4Abs! - t.cd4Abs) <= 0.05 * t.cd4Abs, "\(f.file) abs CD4 \(s.cd4Abs!) vs \(t.cd4Abs)")
            #expect(abs(s.cd8Abs! - t.cd8Abs) <= 0.05 * t.cd8Abs, "\(f.file) abs CD8")
            #expect(s.beadEvents == t.beadEvents)
        }
        // Monthly records: one per patient and month, with the month's RNA result.
        let records = try Self.store(dir).records(patient: nil)
        #expect(records.count == 24)
        for tr in truth.records where tr.month > 0 {
            let r = try #require(records.first { $0.patient == tr.patient && $0.month == tr.month })
            #expect(abs(r.cd4Abs! - tr.cd4Abs) <= 0.05 * tr.cd4Abs, "\(tr.patient) M\(tr.month) CD4")
            #expect(abs(r.cd4Pct! - tr.cd4Pct) <= 1)
            #expect(r.hivRnaCensor?.rawValue == tr.hivRnaCensor, "\(tr.patient) M\(tr.month) censor")
            if let c = tr.hivRnaCopies { #expect(r.hivRnaCopies == c, "\(tr.patient) M\(tr.month) RNA") }
            #expect(r.targetDate == tr.targetDate)
        }
        for p in truth.patients {
            let rs = records.filter { $0.patient == p.id }
            #expect(rs.first { $0.month == 0 }?.baseline == true)
            #expect(rs.allSatisfy { $0.stratum == (p.highStratum ? ">200" : "<=200") }, "\(p.id) stratum")
            // Responders and non-responders alike: every month after baseline says which.
            let after = rs.filter { $0.month > 0 && $0.responder != nil }
            #expect(!after.isEmpty, "\(p.id): months after baseline carry a responder verdict")
            #expect(after.contains { $0.responder == p.responder }, "\(p.id) responder \(p.responder)")
            if !p.responder { #expect(after.allSatisfy { $0.responder == false }, "\(p.id) never a responder") }
        }
    }

    @Test("rerun is idempotent; a changed file supersedes; a missing file keeps its records, flagged")
    func incremental() async throws {
        let dir = try Self.workspace("incremental")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try await Self.run(dir)
        let first = try Self.store(dir).canonicalDump()
        let again = try await Self.run(dir)
        #expect(again.unchangedFiles == 24 && again.newFiles == 0 && again.labFilesUnchanged == 1)
        #expect(try Self.store(dir).canonicalDump() == first)
        // Touching a file without changing its content is not a change.
        let target = dir.appendingPathComponent("cohort/fcs/P002_M03.fcs.gz")
        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: target.path)
        let touched = try await Self.run(dir)
        #expect(touched.unchangedFiles == 24 && touched.supersededFiles == 0)
        #expect(try Self.store(dir).canonicalDump() == first)
        // Replace the file's content with another visit's: a duplicate of a stored file, reported
        // and not counted twice (its earlier result no longer matches the file: removed).
        let replacement = try Data(contentsOf: dir.appendingPathComponent("cohort/fcs/P002_M04.fcs.gz"))
        try replacement.write(to: target)
        let changed = try await Self.run(dir)
        #expect(changed.duplicateFiles == 1 && changed.supersededFiles == 0, "\(changed)")
        let samples = try Self.store(dir).samples()
        #expect(!samples.contains { $0.file.hasSuffix("P002_M03.fcs.gz") })
        #expect(
            try Self.store(dir).rejections().contains {
                $0.code == .duplicateFile && $0.file.hasSuffix("P002_M03.fcs.gz")
            })
        // A file that disappears keeps its sample.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("cohort/fcs/P001_M05.fcs.gz"))
        let gone = try await Self.run(dir)
        #expect(gone.missingFiles == 1)
        #expect(try Self.store(dir).samples().contains { $0.file.hasSuffix("P001_M05.fcs.gz") })
        #expect(
            try Self.store(dir).canonicalDump().contains("P001_M05.fcs.gz")
                && Self.store(dir).canonicalDump().contains("missing"))
    }

    @Test("a corrupted FCS file and hostile XML are rejected with codes; the rest is stored")
    func rejections() async throws {
        let dir = try Self.workspace("reject")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fcs = dir.appendingPathComponent("cohort/fcs")
        try Data(try Data(contentsOf: Paths.fixtures.appendingPathComponent("fcs/fail/truncated_data.fcs"))).write(
            to: fcs.appendingPathComponent("broken.fcs"))
        try Data("not an FCS file at all, just text".utf8).write(to: fcs.appendingPathComponent("garbage.fcs"))
        let hostile =
            "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<HivRnaExport xmlns=\"urn:hivrna-export:v1\">&x;</HivRnaExport>\n"
        try Data(hostile.utf8).write(to: dir.appendingPathComponent("cohort/labs/hostile.xml"))
        var text = try String(contentsOf: dir.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(
            of: #""labs": ["cohort/labs/hivrna-export.xml"]"#,
            with: #""labs": ["cohort/labs/hivrna-export.xml", "cohort/labs/hostile.xml"]"#)
        try Data(text.utf8).write(to: dir.appendingPathComponent("pipeline.json"))
        let s = try await Self.run(dir)
        #expect(s.rejectedFiles == 2 && s.newFiles == 26 && s.labFilesRejected == 1 && s.hadRejections)
        let rejections = try Self.store(dir).rejections()
        #expect(rejections.first { $0.file.hasSuffix("broken.fcs") }?.code == "FCS-truncated_data")
        #expect(rejections.first { $0.file.hasSuffix("garbage.fcs") }?.code == "FCS-not_fcs")
        #expect(rejections.first { $0.file.hasSuffix("hostile.xml") }?.code == "E-XML-DTD-FORBIDDEN")
        #expect(try Self.store(dir).samples().count == 24)
        #expect(try Self.store(dir).labResults().count > 20)
        #expect(!rejections.contains { $0.message.contains("root:") }, "no file content leaks into messages")
    }

    @Test("one run at a time: a second run fails with the lock error (exit 75)")
    func lock() async throws {
        let dir = try Self.workspace("lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let lockPath = dir.appendingPathComponent("cytoingest.sqlite.lock").path
        let fd = open(lockPath, O_CREAT | O_RDWR, 0o644)
        #expect(flock(fd, LOCK_EX) == 0)
        do {
            _ = try await Self.run(dir)
            Issue.record("expected the lock error")
        } catch let e as PipelineError {
            #expect(e.kind == .locked)
            #expect(e.exitCode == 75)
        }
        flock(fd, LOCK_UN)
        close(fd)
        #expect(try await Self.run(dir).newFiles == 24)
    }

    static var binary: String? { Paths.cytoingestBinary }

    @Test("kill -9 during a run, rerun: the store equals that of an uninterrupted run")
    func killAndRerun() async throws {
        let binary = try #require(Self.binary, "cytoingest binary not found")
        // A bigger cohort so that the kill lands mid-run.
        let cohort = Paths.temporaryDirectory("kill-cohort")
        defer { try? FileManager.default.removeItem(at: cohort) }
        var o = SynthOptions()
        o.seed = 9
        o.patients = 6
        o.months = 6
        o.events = 40_000
        try await CohortSynthesizer(options: o).write(to: cohort)
        let dir = try Self.workspace("kill", cohort: cohort)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = try String(contentsOf: dir.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "cohort/labs/hivrna-export.xml", with: "cohort/labs")
        try Data(text.utf8).write(to: dir.appendingPathComponent("pipeline.json"))
        // Reference: an uninterrupted run into another database.
        _ = try await Self.run(dir, database: dir.appendingPathComponent("clean.sqlite").path)
        let clean = try Self.store(dir, "clean.sqlite").canonicalDump()
        var killedMidRun = false
        for delay in [0.25, 0.5, 0.8] {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent("killed.sqlite"))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = [
                "run", "--config", dir.appendingPathComponent("pipeline.json").path, "--database",
                dir.appendingPathComponent("killed.sqlite").path, "--quiet",
            ]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let partial = (try? Self.store(dir, "killed.sqlite").samples().count) ?? 0
            if p.terminationReason == .uncaughtSignal && partial < 36 { killedMidRun = true }
            _ = try await Self.run(dir, database: dir.appendingPathComponent("killed.sqlite").path)
            #expect(try Self.store(dir, "killed.sqlite").canonicalDump() == clean, "after a kill at \(delay) s")
        }
        #expect(killedMidRun, "at least one kill landed before the run finished")
    }

    @Test("configuration errors name the JSON path")
    func configErrors() throws {
        let dir = Paths.temporaryDirectory("config")
        defer { try? FileManager.default.removeItem(at: dir) }
        func error(_ json: String) -> String? {
            let path = dir.appendingPathComponent("c.json").path
            try? Data(json.utf8).write(to: URL(fileURLWithPath: path))
            do {
                _ = try PipelineConfiguration.load(path: path)
                return nil
            } catch {
                return error.path
            }
        }
        #expect(error(#"{"version": 2}"#) == "$.gating.strategy")
        #expect(error(#"{"version": 1, "identity": {}, "gating": {"strategy": "x.xml", "gates": {}}}"#) == "$.identity")
        #expect(
            error(#"{"version": 1, "identity": {"patientKeyword": "$SRC"}, "gating": {"strategy": 5, "gates": {}}}"#)
                == "$.gating.strategy")
        #expect(
            error(
                #"{"version": 1, "identity": {"patientKeyword": "$SRC"}, "qc": {"minBeads": "many"}, "gating": {"strategy": "x", "gates": {}}}"#
            ) == "$.qc.minBeads")
        #expect(
            error(#"{"version": 3, "identity": {"patientKeyword": "$SRC"}, "gating": {"strategy": "x", "gates": {}}}"#)
                == "$.version")
    }
}

@Suite("Monthly records")
struct MonthlyRecordTests {
    static let rules = RecordRules()
    static let patient = RegistryPatient(id: "P1", day0: 20000, cycleStarts: [20000, 20056, 20112], doseMIUPerDay: 12)

    static func sample(_ day: Int, cd4: Double, flags: [QCFlag] = [], file: String? = nil) -> SampleResult {
        SampleResult(
            file: file ?? "f\(day).fcs", sha256: String(repeating: "0", count: 64), patient: "P1",
            collectedDays: 20000 + day, collected: "d\(day)", events: 1000,
            beadEvents: 100, lymphocyteEvents: 3000, cd3Events: 2000, cd4Events: 800, cd8Events: 900,
            cd8HladrEvents: 100, cd4Cd25Events: 50,
            cd4Abs: cd4, cd8Abs: 500, cd4Pct: 30, cd8Pct: 40, cd3Pct: 70, cd4cd8Ratio: cd4 / 500, cd8HladrPct: 10,
            cd4Cd25Pct: 5, method: .beads,
            qcFlags: flags, warnings: [], strategySHA256: "", configSHA256: "", programVersion: "")
    }

    @Test("baseline = mean of the last two in [-42, 0]; windows tile; on-infusion goes aside; nearest wins; responder")
    func recordRules() {
        let samples = [
            Self.sample(-50, cd4: 999),  // outside the baseline window
            Self.sample(-20, cd4: 300), Self.sample(-2, cd4: 320),
            Self.sample(30, cd4: 390), Self.sample(24, cd4: 380),  // month 1: day 30 nearer 28 than 24 is (2 vs 4)
            Self.sample(57, cd4: 800),  // cycle 2 day 1: on-infusion
            Self.sample(50, cd4: 420, flags: ["CD4-LOW-COUNT"]), Self.sample(64, cd4: 430),  // month 2: QC-passed (64) over flagged (50); 62 would be on-infusion
            Self.sample(84, cd4: 500), Self.sample(80, cd4: 510, flags: []), Self.sample(88, cd4: 520),  // month 3: 84 is the target
            Self.sample(112 + 14, cd4: 560), Self.sample(112 - 14, cd4: 600),  // month 4 window [98, 125]: 98 in, 126 is month 5
        ]
        let recs = MonthlyRecordBuilder(rules: Self.rules).build(patients: [Self.patient], samples: samples, labs: [])
        func r(_ m: Int) -> MonthlyRecord { recs.first { $0.month == m }! }
        #expect(r(0).cd4Abs == 310 && r(0).baseline)
        #expect(r(0).stratum == ">200")
        #expect(r(1).cd4Abs == 390)
        #expect(r(2).cd4Abs == 430 && r(2).onInfusionCd4Abs == 800)
        #expect(r(3).cd4Abs == 500)
        #expect(r(4).cd4Abs == 600)
        #expect(r(5).cd4Abs == 560)
        #expect(r(1).deltaCd4Abs == 80)
        #expect(r(2).cycle == 2 && r(2).daysSinceCycleStart == 8)
        // Responder: mean of the last two evaluable months (600, 560) >= 1.5 x 310.
        #expect(r(5).responder == true)
        // Windows tile without gaps or overlap.
        let b = MonthlyRecordBuilder(rules: Self.rules)
        for m in 1..<20 { #expect(b.window(m).1 + 1 == b.window(m + 1).0) }
        #expect(b.window(1) == (14, 41))
    }

    @Test("specimen resolution: correction wins, then the latest valid final; failed only when nothing valid")
    func specimenResolution() throws {
        func lab(
            _ id: String, _ specimen: String, _ outcome: ViralLoadOutcome, _ status: ResultStatus, resulted: Int64,
            copies: Double? = nil
        ) -> StoredLabResult {
            let t = LabTimestamp.parseISO("2024-01-10")!
            let r = HIVRNAResult(
                id: id, patient: "P1", specimen: specimen, specimenType: nil, collected: t,
                resulted: LabTimestamp(epochSeconds: resulted, localDays: 0, hasTime: true, text: ""), status: status,
                replaces: nil, outcome: outcome,
                reportedValue: copies, reportedUnit: .copies, copies: copies, log10: copies.map { log10($0) },
                limit: nil, detected: nil, assay: nil,
                dilution: nil, failureCode: nil, reason: nil, instrumentText: nil, comment: nil, warnings: [], line: 1,
                format: "neutral")
            return StoredLabResult(result: r, sourceFile: "x")
        }
        let resolved = MonthlyRecordBuilder.resolve([
            lab("a", "S1", .quantified, .final, resulted: 1, copies: 100),
            lab("b", "S1", .quantified, .corrected, resulted: 0, copies: 200),
            lab("c", "S2", .failed, .final, resulted: 5), lab("d", "S2", .belowLimit, .final, resulted: 1),
            lab("e", "S3", .failed, .final, resulted: 1),
            lab("f", "S4", .quantified, .final, resulted: 1, copies: 5),
            lab("g", "S4", .quantified, .final, resulted: 9, copies: 7),
        ])
        #expect(Set(resolved.map(\.result.id)) == ["b", "d", "e", "g"])
    }
}
