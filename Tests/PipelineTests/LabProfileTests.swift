import CytoModel
import Foundation
import Labs
import Pipeline
import TestSupport
import Testing

/// Mapping profiles: attribute and ancestor paths, constants, qualifiers, limit precedence, files
/// where nothing maps, and the drift cohort's lab XML read through one profile against its truth.
@Suite("Lab mapping profiles")
struct LabProfileTests {
    static let profileURL = Paths.fixtures.appendingPathComponent("labs/viral-load-batch.profile.json")

    /// A configuration holding `profile` (a JSON object), loaded strictly like `pipeline.json`.
    static func configuration(profile: String, in dir: URL) throws -> PipelineConfiguration {
        let strategy = Paths.repoRoot.appendingPathComponent("fixtures/cohort/panel.xml").path
        let json = """
            {"version": 1, "identity": {"patientKeyword": "$SRC"},
             "gating": {"strategy": "\(strategy)",
                        "gates": {"beads": "Beads", "lymphocytes": "Lymphocytes", "cd3": "CD3", "cd4": "CD4T", "cd8": "CD8T",
                                  "cd8Hladr": "CD8_HLADR", "cd4Cd25": "CD4_CD25"}},
             "labs": {"profiles": [\(profile)]}}
            """
        let path = dir.appendingPathComponent("pipeline-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: path)
        return try PipelineConfiguration.load(path: path.path)
    }

    static func options(profile: String) throws -> LabImportOptions {
        let dir = Paths.temporaryDirectory("profiles")
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = try configuration(profile: profile, in: dir).labImportOptions()
        o.now = ISO8601DateFormatter().date(from: "2025-01-01T00:00:00Z")!
        return o
    }

    static var batchProfile: String { get throws { try String(contentsOf: profileURL, encoding: .utf8) } }

    static func batch(_ results: String, limits: String = #"lowerLimit="50" upperLimit="10000000""#) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <ViralLoadBatch batchId="B1" lab="Lab" assay="HIV-1 RNA RT-PCR" units="copies/mL" \(limits) runDate="2024-04-04">
        \(results)
        </ViralLoadBatch>
        """
    }

    static func result(
        _ patient: String, _ value: String, day: String = "2024-03-14", status: String = "final"
    )
        -> String
    {
        #"  <Result patientId="\#(patient)" visitMonth="2" collectionDate="\#(day)" specimenId="\#(patient)-S" status="\#(status)">\#(value)</Result>"#
    }

    @Test("attributes, ancestor attributes, constants and qualifiers: quantified, < limit, > range, not detected")
    func batchFormat() throws {
        let o = try Self.options(profile: try Self.batchProfile)
        let doc = Self.batch(
            [
                Self.result("P1", "<Value>12345</Value>"),
                Self.result("P2", #"<Value qualifier="LT">50</Value>"#),
                Self.result("P3", #"<Value qualifier="GT">10000000</Value>"#),
                Self.result("P4", #"<Value qualifier="ND"/>"#),
                Self.result("P5", #"<Value qualifier="lt"/>"#),
                Self.result("P6", #"<Value qualifier="EQ">2,500</Value>"#),
            ].joined(separator: "\n"))
        let r = LabImporter.check(bytes: Array(doc.utf8), name: "b.xml", options: o)
        #expect(r.status == .accepted, "\(String(describing: r.error)) \(r.rejected)")
        let by = Dictionary(uniqueKeysWithValues: r.results.map { ($0.patient, $0) })
        #expect(by["P1"]?.outcome == .quantified && by["P1"]?.copies == 12345 && by["P1"]?.limit == nil)
        // "< 50", not a quantified 50.
        #expect(by["P2"]?.censor == .lt && by["P2"]?.limit == 50)
        #expect(by["P3"]?.censor == .gt && by["P3"]?.limit == 10_000_000)
        // Not detected without a number: the LOD, else the LLOQ (here the batch's lowerLimit).
        #expect(by["P4"]?.censor == .nd && by["P4"]?.limit == 50 && by["P4"]?.copies == nil)
        // A qualifier without a number takes the limit; qualifiers match ignoring case.
        #expect(by["P5"]?.censor == .lt && by["P5"]?.limit == 50)
        #expect(by["P6"]?.copies == 2500)
        let p1 = try #require(by["P1"])
        #expect(p1.collected.isoDate == "2024-03-14" && !p1.collected.hasTime)
        #expect(p1.resulted?.isoDate == "2024-04-04")
        #expect(p1.specimen == "P1-S" && p1.id == "P1-S/HIV1-RNA")
        #expect(p1.assay?.name == "HIV-1 RNA RT-PCR" && p1.assay?.lloq == 50 && p1.assay?.uloq == 10_000_000)
        #expect(p1.assay?.provenance.contains("lloq from the file") == true)
        #expect(p1.warnings.isEmpty, "\(p1.warnings)")
    }

    @Test("limits: the file's, else the profile's, else the analyzer table's; each limit on its own")
    func limitPrecedence() throws {
        var profile = try Self.batchProfile
        // The profile's own limits and an analyzer table under them.
        profile = profile.replacingOccurrences(
            of: #""timeZone": "UTC""#,
            with:
                #""timeZone": "UTC", "limits": {"lloq": 40}, "analyzers": {"A1": {"name": "Analyzer one", "lloq": 20, "uloq": 5000000, "lod": 10}}"#
        ).replacingOccurrences(
            of: #""constants": {"testCode": "HIV1-RNA"}"#,
            with: #""constants": {"testCode": "HIV1-RNA", "analyzer": "A1"}"#)
        let o = try Self.options(profile: profile)
        func first(_ limits: String, _ value: String) -> HIVRNAResult? {
            let doc = Self.batch(Self.result("P1", value), limits: limits)
            return LabImporter.check(bytes: Array(doc.utf8), name: "b.xml", options: o).results.first
        }
        // File limits win.
        #expect(first(#"lowerLimit="50" upperLimit="10000000""#, #"<Value qualifier="LT"/>"#)?.limit == 50)
        // No file lower limit: the profile's 40.
        #expect(first(#"upperLimit="10000000""#, #"<Value qualifier="LT"/>"#)?.limit == 40)
        // No file or profile upper limit: the analyzer's 5,000,000.
        #expect(first(#"lowerLimit="50""#, #"<Value qualifier="GT"/>"#)?.limit == 5_000_000)
        // Not detected: the analyzer's LOD (no LOD in the file or profile).
        #expect(first(#"lowerLimit="50""#, #"<Value qualifier="ND"/>"#)?.limit == 10)
        // A quantified value under the file's LLOQ is out of range.
        let doc = Self.batch(Self.result("P1", "<Value>45</Value>"))
        let r = LabImporter.check(bytes: Array(doc.utf8), name: "b.xml", options: o)
        #expect(r.rejected.first?.code == "E-REC-VALUE-OUT-OF-RANGE")
    }

    @Test("a file where no record maps is rejected with a code; skipped and rejected records carry their lines")
    func nothingMaps() throws {
        let o = try Self.options(profile: try Self.batchProfile)
        // Every record lacks its collection date.
        let none = Self.batch(
            [
                #"<Result patientId="P1" specimenId="S1" status="final"><Value>100</Value></Result>"#,
                #"<Result patientId="P2" specimenId="S2" status="final"><Value>200</Value></Result>"#,
            ].joined(separator: "\n"))
        let r = LabImporter.check(bytes: Array(none.utf8), name: "n.xml", options: o)
        #expect(r.status == .rejected && r.error?.code == "E-PROFILE-NO-RECORDS")
        #expect(r.error?.message.contains("line 3") == true, "\(String(describing: r.error))")
        #expect(r.error?.message.contains("P1") == false, "no patient identifier in the message")
        // The root matches but no element is on the record path.
        let empty = Self.batch("<Sample id='x'/>")
        let e = LabImporter.check(bytes: Array(empty.utf8), name: "e.xml", options: o)
        #expect(e.error?.code == "E-PROFILE-NO-RECORDS")
        #expect(e.error?.message.contains("no element matches the record path") == true)
        // One good record among broken ones: partial, each rejection with its line.
        let mixed = Self.batch(
            [
                Self.result("P1", "<Value>100</Value>"),
                Self.result("P2", #"<Value qualifier="XX">100</Value>"#),
                Self.result("P3", "<Value>100</Value>", status: "preliminary"),
            ].joined(separator: "\n"))
        let m = LabImporter.check(bytes: Array(mixed.utf8), name: "m.xml", options: o)
        #expect(m.status == .partial && m.results.count == 1)
        #expect(m.rejected.first?.line == 4 && m.rejected.first?.code == "E-REC-BAD-FORMAT")
        #expect(m.rejected.first?.message.contains("qualifierMap") == true)
        #expect(m.skipped.first?.line == 5 && m.skipped.first?.reason.contains("preliminary") == true)
    }

    @Test("found by the fuzzer: a quantified zero without assay limits is rejected, never log10 = -inf")
    func quantifiedZero() throws {
        let o = try Self.options(profile: try Self.batchProfile)
        let doc = Self.batch(Self.result("P1", "<Value>00</Value>"), limits: "")
        let r = LabImporter.check(bytes: Array(doc.utf8), name: "z.xml", options: o)
        #expect(r.results.isEmpty && r.rejected.first?.code == "E-REC-VALUE-OUT-OF-RANGE", "\(r.results) \(r.rejected)")
    }

    @Test("paths: deeper record paths, ../../@ and absolute ancestor paths, child attributes")
    func deeperPaths() throws {
        let profile = """
            {"name": "nested", "recordPath": "/Export/Batch/Row",
             "fields": {"patient": "Subject/@id", "collected": "Drawn", "result": "Result", "specimen": "@accession",
                        "testCode": "../@test", "lloq": "/Export/@lloq", "uloq": "../../@uloq"},
             "testCodes": {"VL": "copies", "VLLOG": "log10"},
             "dateFormat": "MM/dd/yyyy HH:mm", "timeZone": "Europe/Paris"}
            """
        let o = try Self.options(profile: profile)
        let doc = """
            <Export lloq="20" uloq="1e7">
              <Batch test="VL">
                <Row accession="A1"><Subject id="P1"/><Drawn>03/14/2024 09:30</Drawn><Result>&lt;20</Result></Row>
              </Batch>
              <Batch test="CD4"><Row accession="A2"><Subject id="P1"/><Drawn>03/14/2024 09:30</Drawn><Result>500</Result></Row></Batch>
              <Batch test="VLLOG"><Row accession="A3"><Subject id="P2"/><Drawn>03/14/2024 23:30</Drawn><Result>3.00</Result></Row></Batch>
            </Export>
            """
        let r = LabImporter.check(bytes: Array(doc.utf8), name: "x.xml", options: o)
        #expect(r.status == .accepted, "\(String(describing: r.error)) \(r.rejected)")
        #expect(r.results.count == 2)
        #expect(r.results.first?.censor == .lt && r.results.first?.limit == 20)
        #expect(r.results.last.map { abs(($0.copies ?? 0) - 1000) < 1e-6 } == true)
        // Times are read in the profile's zone: 23:30 in Paris is the same civil date.
        #expect(r.results.last?.collected.isoDate == "2024-03-14" && r.results.last?.collected.hasTime == true)
        #expect(r.skipped.count == 1 && r.skipped[0].line == 5 && r.skipped[0].reason.contains("CD4"))
    }

    @Test("profile errors say what to change")
    func configurationErrors() throws {
        let base = try Self.batchProfile
        func error(_ profile: String) -> String {
            do {
                _ = try Self.options(profile: profile)
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        #expect(
            error(base.replacingOccurrences(of: #""@patientId""#, with: #""@patient id""#)).contains("fields.patient"))
        #expect(
            error(base.replacingOccurrences(of: #""resulted": "../@runDate""#, with: #""resulted": "../RunDate""#))
                .contains("ancestor's attributes"))
        #expect(
            error(base.replacingOccurrences(of: #""resulted": "../@runDate""#, with: #""resulted": "../../../@x""#))
                .contains("above the root"))
        // The test code both as a field and as a constant: ambiguous.
        #expect(
            error(
                base.replacingOccurrences(
                    of: #""patient": "@patientId","#, with: #""patient": "@patientId", "testCode": "@test","#)
            )
            .contains("both"))
        #expect(
            error(base.replacingOccurrences(of: #""qualifierMap": {"#, with: #""qualifierMap": {"NA": "nope", "#))
                .contains("below_limit"))
        #expect(
            error(base.replacingOccurrences(of: #""constants": {"testCode": "HIV1-RNA"},"#, with: "")).contains(
                "constants.testCode"))
        #expect(error(base.replacingOccurrences(of: #""timeZone""#, with: #""timezone""#)).contains("timeZone"))
        #expect(error(base + ", " + base).contains("root element ViralLoadBatch"))
        #expect(
            error(
                base.replacingOccurrences(
                    of: #""testCodes": {"HIV1-RNA": "copies"}"#, with: #""testCodes": {"": "copies"}"#)
            )
            .contains("constants.testCode"))
    }

    @Test("the neutral export's typed attributes collapse whitespace as XML Schema says")
    func xsdWhitespace() throws {
        var o = LabImportOptions()
        o.now = ISO8601DateFormatter().date(from: "2025-01-01T00:00:00Z")!
        let doc = LabImportTests.neutral(
            [
                LabImportTests.result("B1", #"<BelowLimit unit=" copies/mL " limit=" 20 " detected=" true "/>"#),
                LabImportTests.result("B2", "<BelowLimit unit=\"copies/mL\" limit=\"20\" detected=\"\n\tfalse \"/>"),
                LabImportTests.result("F1", #"<Failed code=" QNS ">insufficient</Failed>"#),
            ].joined(),
            run: #"<Run id=" RUN1 " assayRef=" A1 " completedAt=" 2024-03-08T15:30:00Z " runStatus=" valid ">"#)
        let r = LabImporter.check(bytes: Array(doc.utf8), name: "ws.xml", options: o)
        #expect(r.status == .accepted, "\(String(describing: r.error)) \(r.rejected)")
        let by = Dictionary(uniqueKeysWithValues: r.results.map { ($0.id, $0) })
        #expect(by["B1"]?.detected == true && by["B1"]?.limit == 20)
        #expect(by["B2"]?.detected == false)
        #expect(by["F1"]?.failureCode == "QNS")
        #expect(" a \t b\n".xsdCollapsed == "a b")
    }

    // MARK: - Acceptance: the drift cohort's lab XML

    struct Truth: Decodable {
        struct Record: Decodable {
            var patient_id: String
            var date: String
            var hiv_rna_reported: String?
            var hiv_rna_batch: String?
        }
        var records: [Record]
    }

    @Test(
        "drift cohort: every lab file through one profile gives every truth.json record (value, censoring, limit)",
        .enabled(if: Paths.sharedAvailable("drift-cohort"), "../shared/corpus/drift-cohort is absent: skipped"))
    func driftCohort() throws {
        let root = Paths.sharedCorpus.appendingPathComponent("drift-cohort")
        let truth = try JSONDecoder().decode(
            Truth.self, from: Data(contentsOf: root.appendingPathComponent("truth.json")))
        let o = try Self.options(profile: try Self.batchProfile)
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("hivrna").path)
            .filter { $0.hasSuffix(".xml") }.sorted()
        #expect(!files.isEmpty)
        var results: [String: (HIVRNAResult, String)] = [:]
        for f in files {
            let r = LabImporter.check(path: root.appendingPathComponent("hivrna/\(f)").path, options: o)
            #expect(r.status == .accepted, "\(f): \(String(describing: r.error)) \(r.rejected)")
            #expect(r.format == "profile:viral-load-batch")
            for x in r.results {
                #expect(
                    results.updateValue((x, String(f.dropLast(4))), forKey: "\(x.patient) \(x.collected.isoDate)")
                        == nil)
            }
        }
        var checked = 0
        for t in truth.records {
            guard let reported = t.hiv_rna_reported else { continue }
            let key = "\(t.patient_id) \(t.date)"
            guard let (x, batch) = results[key] else {
                Issue.record("no result for truth record \(key)")
                continue
            }
            #expect(batch == t.hiv_rna_batch, "\(key)")
            let text = reported.trimmed
            if text.hasPrefix("<") || text.hasPrefix(">") {
                let limit = Double(text.dropFirst().trimmed.replacingOccurrences(of: ",", with: ""))
                #expect(x.censor == (text.hasPrefix("<") ? .lt : .gt), "\(key)")
                #expect(x.limit == limit, "\(key): limit \(String(describing: x.limit)) vs \(text)")
            } else if let v = Double(text.replacingOccurrences(of: ",", with: "")) {
                #expect(x.censor == Censor.none && x.copies == v, "\(key): \(String(describing: x.copies)) vs \(text)")
            } else {
                #expect(x.censor == .nd, "\(key): \(text)")
            }
            checked += 1
        }
        #expect(checked == truth.records.filter { $0.hiv_rna_reported != nil }.count && checked > 0)
        #expect(results.count == checked, "every result in the files is a truth record")
    }
}
