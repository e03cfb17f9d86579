import Analysis
import CytoModel
import Deflate
import FCSParser
import Foundation
import Gating
import Labs
import Pipeline
import Records
import Review
import Store
import TestSupport
import Testing

/// The HIV RNA importer against the shared corpus README (read in place) and our own
/// documents for every outcome and error code.
@Suite("HIV RNA lab XML import")
struct LabImportTests {
    static let corpus = Paths.sharedCorpus.appendingPathComponent("hivrna")
    static let available = Paths.sharedAvailable("hivrna")

    static var options: LabImportOptions {
        var o = LabImportOptions()
        o.profiles = [.vendorGenericLIS]
        o.patientIdentifierSystem = "urn:x-synthetic:study-subject"
        o.now = ISO8601DateFormatter().date(from: "2024-06-30T00:00:00Z")!
        return o
    }

    /// (id, outcome, copies, log10 (2 dp), censor, limit)
    typealias Row = (String, ViralLoadOutcome, Double?, Double?, Censor?, Double?)

    struct Expectation: Sendable {
        var file: String
        var status: LabFileReport.Status
        var error: RejectionCode? = nil
        var results: [(String, ViralLoadOutcome, Double?, Double?, Censor?, Double?)] = []
        var rejected: [String: RejectionCode] = [:]
        var retracted: [String] = []
        var merged = 0
        var skipped = 0
    }

    static let expectations: [Expectation] = [
        Expectation(
            file: "hivrna-export-valid.xml", status: .accepted,
            results: [
                ("R-0001", .quantified, 38500, 4.59, Censor.none, nil),
                ("R-0002", .quantified, 152000, 5.18, Censor.none, nil),
                ("R-0003", .quantified, 41200, 4.61, Censor.none, nil),
                ("R-0014", .quantified, 42100, 4.62, Censor.none, nil),
                ("R-0004", .quantified, 29800, 4.47, Censor.none, nil), ("R-0005", .belowLimit, 20, 1.30, .lt, 20),
                ("R-0006", .notDetected, nil, nil, .nd, 20), ("R-0007", .failed, nil, nil, nil, nil),
                ("R-0008", .belowLimit, 20, 1.30, .lt, 20),
                ("R-0009", .aboveLimit, 10_000_000, 7.00, .gt, 10_000_000),
                ("R-0010", .quantified, 23_500_000, 7.37, Censor.none, nil),
                ("R-0012", .quantified, 2_140_000, 6.33, Censor.none, nil), ("R-0016", .failed, nil, nil, nil, nil),
                ("R-0011", .notPerformed, nil, nil, nil, nil), ("R-0013", .quantified, 2000, 3.30, Censor.none, nil),
            ], retracted: ["R-0015"]),
        Expectation(
            file: "hivrna-export-legacy-1990s.xml", status: .accepted,
            results: [
                ("L-0001", .quantified, 64000, 4.81, Censor.none, nil),
                ("L-0002", .quantified, 250000, 5.40, Censor.none, nil),
                ("L-0003", .belowLimit, 400, 2.60, .lt, 400), ("L-0004", .belowLimit, 10000, 4.00, .lt, 10000),
                ("L-0005", .quantified, 88000, 4.94, Censor.none, nil),
            ]),
        Expectation(
            file: "hivrna-export-utf16-bom.xml", status: .accepted,
            results: [
                ("U-0001", .quantified, 5300, 3.72, Censor.none, nil), ("U-0002", .belowLimit, 30, 1.48, .lt, 30),
            ]),
        Expectation(file: "bad-not-well-formed-unescaped.xml", status: .rejected, error: "E-XML-NOT-WELL-FORMED"),
        Expectation(file: "bad-not-well-formed-truncated.xml", status: .rejected, error: "E-XML-NOT-WELL-FORMED"),
        Expectation(file: "bad-wrong-namespace.xml", status: .rejected, error: "E-XML-UNSUPPORTED-ROOT"),
        Expectation(
            file: "bad-missing-required.xml", status: .partial,
            results: [("B-0001", .quantified, 29800, 4.47, Censor.none, nil)],
            rejected: [
                "B-0002": "E-REC-MISSING-FIELD", "B-0003": "E-REC-MISSING-FIELD", "B-0004": "E-REC-MISSING-FIELD",
            ]),
        Expectation(file: "bad-duplicate-ids.xml", status: .rejected, error: "E-XML-DUPLICATE-ID"),
        Expectation(file: "hostile-xxe.xml", status: .rejected, error: "E-XML-DTD-FORBIDDEN"),
        Expectation(file: "hostile-billion-laughs.xml", status: .rejected, error: "E-XML-DTD-FORBIDDEN"),
        Expectation(
            file: "bad-huge-numbers.xml", status: .partial,
            results: [("H-0001", .quantified, 29800, 4.47, Censor.none, nil)],
            rejected: [
                "H-0002": "E-REC-VALUE-OUT-OF-RANGE", "H-0003": "E-REC-VALUE-OUT-OF-RANGE",
                "H-0004": "E-REC-VALUE-OUT-OF-RANGE", "H-0005": "E-REC-VALUE-OUT-OF-RANGE",
                "H-0006": "E-REC-LOG-MISMATCH",
            ]),
        Expectation(
            file: "bad-negative-values.xml", status: .partial,
            results: [("N-0005", .quantified, 880, 2.94, Censor.none, nil)],
            rejected: [
                "N-0001": "E-REC-NEGATIVE-VALUE", "N-0002": "E-REC-NEGATIVE-VALUE",
                "N-0003": "E-REC-VALUE-OUT-OF-RANGE", "N-0004": "E-REC-VALUE-OUT-OF-RANGE",
            ]),
        Expectation(
            file: "bad-future-dates.xml", status: .partial,
            results: [("F-0004", .quantified, 4100, 3.61, Censor.none, nil)],
            rejected: ["F-0001": "E-REC-FUTURE-DATE", "F-0002": "E-REC-DATE-ORDER", "F-0003": "E-REC-DATE-RANGE"]),
        Expectation(
            file: "fhir-bundle-hivrna.xml", status: .accepted,
            results: [
                ("LRES-0101", .quantified, 18700, 4.27, Censor.none, nil),
                ("LRES-0103", .belowLimit, 20, 1.30, .lt, 20),
                ("LRES-0104", .notDetected, nil, nil, .nd, 20),
                ("LRES-0105", .aboveLimit, 10_000_000, 7.00, .gt, 10_000_000),
                ("LRES-0106", .quantified, 2000, 3.30, Censor.none, nil),
                ("LRES-0108", .notPerformed, nil, nil, nil, nil),
                ("LRES-0109", .failed, nil, nil, nil, nil), ("LRES-0110", .quantified, 21500, 4.33, Censor.none, nil),
            ], retracted: ["LRES-0107"], merged: 1, skipped: 3),
        Expectation(file: "fhir-bad-no-namespace.xml", status: .rejected, error: "E-XML-UNSUPPORTED-ROOT"),
        Expectation(file: "fhir-hostile-xxe.xml", status: .rejected, error: "E-XML-DTD-FORBIDDEN"),
        Expectation(
            file: "vendor-generic-lis-export.xml", status: .partial,
            results: [
                ("A24-1001/HIV1QN", .quantified, 29800, 4.47, Censor.none, nil),
                ("A24-1002/HIV1QN", .notDetected, nil, nil, .nd, 20),
                ("A24-1003/HIV1QN", .belowLimit, 20, 1.30, .lt, 20),
                ("A24-1004/HIV1QN", .aboveLimit, 10_000_000, 7.00, .gt, 10_000_000),
                ("A24-1005/HIV1QN", .failed, nil, nil, nil, nil), ("A24-1006/HIV1QN", .belowLimit, 40, 1.60, .lt, 40),
                ("A24-1007/HIV1LG", .belowLimit, 40, 1.60, .lt, 40),
                ("A24-1008/HIV1QN", .notDetected, nil, nil, .nd, 40),
                ("A24-1009/HIV1QN", .belowLimit, 30, 1.48, .lt, 30),
                ("A24-1010/HIV1QN", .quantified, 38500, 4.59, Censor.none, nil),
                ("A24-1011/HIV1QN", .aboveLimit, 10_000_000, 7.00, .gt, 10_000_000),
                ("A24-1012/HIV1IU", .quantified, 7365.27, 3.87, Censor.none, nil),
                ("A24-1013/HIV1QN", .notDetected, nil, nil, .nd, 13.2),
                ("A24-1014/HIV1QN", .belowLimit, 20, 1.30, .lt, 20),
                ("A24-1015/HIV1QN", .failed, nil, nil, nil, nil),
                ("A24-1016/HIV1QN", .notPerformed, nil, nil, nil, nil),
            ], rejected: ["A24-1017/HIV1QN": "E-REC-BAD-FORMAT", "A24-1018/HIV1QN": "E-REC-UNRECOGNISED-RESULT"],
            merged: 1, skipped: 2),
    ]

    @Test(
        "every corpus file gives its README outcome",
        .enabled(if: available, "../shared/corpus/hivrna is absent: corpus outcomes skipped"))
    func corpus() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter {
            $0.hasSuffix(".xml")
        }
        #expect(Set(files) == Set(Self.expectations.map(\.file)), "every corpus XML has an expectation")
        for x in Self.expectations {
            let start = Date()
            let r = LabImporter.check(path: Self.corpus.appendingPathComponent(x.file).path, options: Self.options)
            #expect(Date().timeIntervalSince(start) < 1, "\(x.file) took too long")
            #expect(r.status == x.status, "\(x.file): \(r.status) \(r.error?.description ?? "")")
            #expect(r.error?.code == x.error, "\(x.file)")
            if x.status == .rejected { #expect(r.results.isEmpty, "\(x.file): a rejected file hands over nothing") }
            #expect(r.results.count == x.results.count, "\(x.file): \(r.results.map(\.id))")
            for (id, outcome, copies, log10, censor, limit) in x.results {
                guard let got = r.results.first(where: { $0.id == id }) else {
                    Issue.record("\(x.file): result \(id) missing")
                    continue
                }
                #expect(got.outcome == outcome, "\(x.file) \(id)")
                #expect(got.censor == censor, "\(x.file) \(id)")
                func near(_ a: Double?, _ b: Double?, _ tol: Double) -> Bool {
                    a == nil && b == nil || (a != nil && b != nil && abs(a! - b!) <= tol)
                }
                #expect(near(got.copies, copies, 0.01), "\(x.file) \(id) copies \(String(describing: got.copies))")
                #expect(
                    near(got.log10.map { ($0 * 100).rounded() / 100 }, log10, 1e-9),
                    "\(x.file) \(id) log10 \(String(describing: got.log10))")
                #expect(near(got.limit, limit, 1e-9), "\(x.file) \(id) limit \(String(describing: got.limit))")
            }
            #expect(
                Dictionary(uniqueKeysWithValues: r.rejected.map { ($0.id ?? "", $0.code) }) == x.rejected, "\(x.file)")
            #expect(r.retracted == x.retracted, "\(x.file)")
            #expect(r.skipped.filter { $0.reason.contains("merged") }.count == x.merged, "\(x.file)")
            if x.skipped > 0 { #expect(r.skipped.count == x.skipped, "\(x.file): \(r.skipped)") }
        }
        // Details the README calls out.
        let valid = LabImporter.check(
            path: Self.corpus.appendingPathComponent("hivrna-export-valid.xml").path, options: Self.options)
        #expect(valid.results.first { $0.id == "R-0014" }?.replaces == "R-0003")
        #expect(valid.results.first { $0.id == "R-0005" }?.detected == true)
        #expect(valid.results.first { $0.id == "R-0016" }?.failureCode == "CONTROL_FAILURE")
        let legacy = LabImporter.check(
            path: Self.corpus.appendingPathComponent("hivrna-export-legacy-1990s.xml").path, options: Self.options)
        #expect(
            legacy.results.first { $0.id == "L-0003" }?.detected == nil,
            "absent 'detected' is unknown, not 'not detected'")
        #expect(
            legacy.results.first { $0.id == "L-0004" }?.warnings.contains { $0.hasPrefix("W-LEGACY-EQ-UNITS") } == true)
        #expect(legacy.results.first { $0.id == "L-0001" }?.collected.hasTime == false)
        let utf16 = LabImporter.check(
            path: Self.corpus.appendingPathComponent("hivrna-export-utf16-bom.xml").path, options: Self.options)
        #expect(
            utf16.results.first?.comment == "Volumen 0,5 mL \u{2014} Probe gepr\u{FC}ft (\u{B5}L-Pipette kalibriert)")
        let vendor = LabImporter.check(
            path: Self.corpus.appendingPathComponent("vendor-generic-lis-export.xml").path, options: Self.options)
        #expect(vendor.results.first { $0.id == "A24-1014/HIV1QN" }?.detected == true)
        #expect(vendor.results.first { $0.id == "A24-1016/HIV1QN" }?.reason?.contains("leaked") == true)
        #expect(
            vendor.results.first { $0.id == "A24-1001/HIV1QN" }?.collected.epochSeconds
                == Int64(ISO8601DateFormatter().date(from: "2024-03-04T12:55:00Z")!.timeIntervalSince1970))
    }

    // MARK: Own documents

    static func neutral(
        _ results: String,
        assay: String =
            #"<Assay id="A1" kit="COBAS AmpliPrep/COBAS TaqMan HIV-1 Test" unit="copies/mL" lod="20" lloq="20" uloq="10000000" iuPerCopy="1.7"/>"#,
        run: String = #"<Run id="RUN1" assayRef="A1" completedAt="2024-03-08T15:30:00Z" runStatus="valid">"#
    ) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <HivRnaExport xmlns="urn:hivrna-export:v1" schemaVersion="1.0" exportId="E1" createdAt="2024-03-12T18:00:00Z">
          <Source><Laboratory id="L1">Lab</Laboratory></Source>
          <Assays>\(assay)</Assays>
          \(run)
          \(results)
          </Run>
        </HivRnaExport>
        """
    }

    static func result(
        _ id: String, _ outcome: String, patient: String = "<PatientId>P1</PatientId>",
        collected: String = "2024-03-04T08:00:00Z", extra: String = "", status: String = "final"
    ) -> String {
        "<Result id=\"\(id)\">\(patient)<SpecimenId>S-\(id)</SpecimenId><CollectedAt>\(collected)</CollectedAt><ResultedAt>2024-03-08T16:00:00Z</ResultedAt><Status>\(status)</Status>\(outcome)\(extra)</Result>"
    }

    @Test("own documents: every outcome and record-level code")
    func ownRecords() {
        let doc = Self.neutral(
            [
                Self.result("Q", #"<Quantified unit="copies/mL">52400</Quantified>"#, extra: "<Log10>4.72</Log10>"),
                Self.result("LT", #"<BelowLimit unit="copies/mL" limit="20" detected="false"/>"#),
                Self.result("ND", #"<NotDetected unit="copies/mL"/>"#),
                Self.result("GT", #"<AboveLimit unit="copies/mL" limit="10000000"/>"#),
                Self.result("FA", #"<Failed code="QNS">not enough sample</Failed>"#),
                Self.result("NP", #"<NotPerformed reason="leaked"/>"#, status: "cancelled"),
                Self.result("PRE", #"<Quantified unit="copies/mL">100</Quantified>"#, status: "preliminary"),
                Self.result("EIE", #"<Quantified unit="copies/mL">100</Quantified>"#, status: "entered-in-error"),
                Self.result("MISS", #"<Quantified unit="copies/mL">100</Quantified>"#, patient: ""),
                Self.result("FMT", #"<Quantified unit="copies/mL">1,5E+04</Quantified>"#),
                Self.result("NEG", #"<Quantified unit="copies/mL">-5</Quantified>"#),
                Self.result("RNG", #"<Quantified unit="copies/mL">10</Quantified>"#),
                Self.result("LOG", #"<Quantified unit="copies/mL">5000</Quantified>"#, extra: "<Log10>4.70</Log10>"),
                Self.result(
                    "FUT", #"<Quantified unit="copies/mL">500</Quantified>"#, collected: "2030-01-01T00:00:00Z"),
                Self.result("OLD", #"<Quantified unit="copies/mL">500</Quantified>"#, collected: "1979-12-31"),
                Self.result(
                    "ORD", #"<Quantified unit="copies/mL">500</Quantified>"#, collected: "2024-03-09T08:00:00Z"),
                Self.result("UNIT", #"<Quantified unit="IU/mL">500</Quantified>"#),
                Self.result("CAN", #"<Quantified unit="copies/mL">500</Quantified>"#, status: "cancelled"),
                // Found by the fuzzer: a zero limit used to reach the result as log10 = -inf.
                Self.result("ZERO", #"<AboveLimit unit="copies/mL" limit="0.00E+07"/>"#),
            ].joined(separator: "\n"))
        var o = Self.options
        o.enrolledPatients = ["P1"]
        let r = LabImporter.check(bytes: Array(doc.utf8), name: "own.xml", options: o)
        #expect(r.status == .partial)
        let byID = Dictionary(uniqueKeysWithValues: r.results.map { ($0.id, $0) })
        #expect(byID["Q"]?.copies == 52400 && byID["Q"]?.censor == Censor.none)
        #expect(byID["LT"]?.censor == .lt && byID["LT"]?.detected == false && byID["LT"]?.limit == 20)
        #expect(byID["ND"]?.censor == .nd && byID["ND"]?.limit == 20 && byID["ND"]?.copies == nil)
        #expect(byID["GT"]?.censor == .gt && byID["GT"]?.limit == 10_000_000)
        #expect(byID["FA"]?.outcome == .failed && byID["FA"]?.failureCode == "QNS" && byID["FA"]?.censor == nil)
        #expect(byID["NP"]?.outcome == .notPerformed && byID["NP"]?.reason == "leaked")
        #expect(r.skipped.contains { $0.id == "PRE" && $0.line != nil })
        #expect(r.retracted == ["EIE"])
        let codes = Dictionary(uniqueKeysWithValues: r.rejected.map { ($0.id!, $0.code) })
        #expect(
            codes == [
                "MISS": "E-REC-MISSING-FIELD", "FMT": "E-REC-BAD-FORMAT", "NEG": "E-REC-NEGATIVE-VALUE",
                "RNG": "E-REC-VALUE-OUT-OF-RANGE",
                "LOG": "E-REC-LOG-MISMATCH", "FUT": "E-REC-FUTURE-DATE", "OLD": "E-REC-DATE-RANGE",
                "ORD": "E-REC-DATE-ORDER", "UNIT": "E-REC-UNIT",
                "CAN": "E-REC-BAD-FORMAT", "ZERO": "E-REC-VALUE-OUT-OF-RANGE",
            ])
        // Unknown patient when a registry is configured.
        o.enrolledPatients = ["P9"]
        let unknown = LabImporter.check(
            bytes: Array(Self.neutral(Self.result("Q", #"<Quantified unit="copies/mL">52400</Quantified>"#)).utf8),
            name: "u.xml", options: o)
        #expect(unknown.rejected.first?.code == "E-REC-UNKNOWN-PATIENT")
        // Patient identifiers never appear in messages.
        #expect(!unknown.rejected.contains { $0.message.contains("P1") })
    }

    @Test("own documents: every file-level code")
    func ownFiles() {
        func code(_ s: String, _ options: LabImportOptions = Self.options) -> RejectionCode? {
            LabImporter.check(bytes: Array(s.utf8), name: "f.xml", options: options).error?.code
        }
        let good = Self.result("Q", #"<Quantified unit="copies/mL">52400</Quantified>"#)
        #expect(code(Self.neutral(good)) == nil)
        var small = Self.options
        small.maxBytes = 100
        #expect(code(Self.neutral(good), small) == "E-FILE-TOO-LARGE")
        #expect(
            code(#"<?xml version="1.0" encoding="ISO-8859-1"?><HivRnaExport xmlns="urn:hivrna-export:v1"/>"#)
                == "E-XML-ENCODING")
        #expect(
            LabImporter.check(bytes: [0x3C, 0x00, 0x61, 0x00], name: "x", options: Self.options).error?.code
                == "E-XML-ENCODING")
        #expect(
            LabImporter.check(
                bytes: Array("<a>\u{FF}</a>".utf8.dropLast(5)) + [0xC3, 0x28] + Array("</a>".utf8), name: "x",
                options: Self.options
            ).error?.code == "E-XML-ENCODING")
        #expect(code("<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY a \"b\">]><x/>") == "E-XML-DTD-FORBIDDEN")
        #expect(code(Self.neutral(good).replacingOccurrences(of: "</Run>", with: "")) == "E-XML-NOT-WELL-FORMED")
        #expect(code("<HivRnaExport/>") == "E-XML-UNSUPPORTED-ROOT")
        #expect(code(Self.neutral(good + good)) == "E-XML-DUPLICATE-ID")
        #expect(
            code(Self.neutral(good).replacingOccurrences(of: #"exportId="E1" "#, with: "")) == "E-XML-MISSING-HEADER")
        #expect(
            code(Self.neutral(good, assay: #"<Assay id="A1" kit="K" unit="copies/mL" lloq="20"/>"#))
                == "E-XML-MISSING-HEADER")
        #expect(
            code(
                Self.neutral(
                    good, run: #"<Run id="RUN1" assayRef="ZZ" completedAt="2024-03-08T15:30:00Z" runStatus="valid">"#))
                == "E-XML-UNKNOWN-ASSAY")
        // FHIR must be UTF-8.
        let fhir = #"<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/></Bundle>"#
        var utf16: [UInt8] = [0xFF, 0xFE]
        for u in fhir.utf16 { utf16 += [UInt8(u & 0xFF), UInt8(u >> 8)] }
        #expect(LabImporter.check(bytes: utf16, name: "f.xml", options: Self.options).error?.code == "E-XML-ENCODING")
        #expect(code(fhir) == nil)
    }

    @Test("staged results of a rejected file are flagged for rollback")
    func stagingThenReject() throws {
        // More than one 256 KiB input chunk of results, so the error is found only after the
        // first chunk's results were staged.
        let good = (0..<3000).map { Self.result("Q\($0)", #"<Quantified unit="copies/mL">52400</Quantified>"#) }
            .joined()
        let doc = Self.neutral(good + "<Result id=\"BROKEN\"><")
        let dir = Paths.temporaryDirectory("labs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broken.xml").path
        try Data(doc.utf8).write(to: URL(fileURLWithPath: path))
        var sink = CollectingSink()
        let report = LabImporter.importFile(path: path, options: Self.options, sink: &sink)
        #expect(report.status == .rejected)
        #expect(report.error?.code == "E-XML-NOT-WELL-FORMED")
        #expect(sink.results.count > 0, "results were staged before the error")
        #expect(LabImporter.check(path: path, options: Self.options).results.isEmpty)
    }

    @Test("a DOCTYPE or ENTITY deep in a large file, or split across the reader's 256 KiB chunks, is refused")
    func lateDoctype() throws {
        let chunk = 256 << 10
        let good = (0..<1500).map { Self.result("Q\($0)", #"<Quantified unit="copies/mL">52400</Quantified>"#) }
            .joined()
        let whole = Self.neutral(good)
        // Insert after a Result that ends below the first chunk boundary (between elements).
        let cut = try #require(
            whole.range(
                of: "</Result>", options: .backwards,
                range: whole.startIndex..<whole.utf8.index(whole.startIndex, offsetBy: chunk - 300)))
        let head = String(whole[..<cut.upperBound])
        let tail = String(whole[cut.upperBound...])
        let dir = Paths.temporaryDirectory("labs")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (k, pattern) in ["<!ENTITY x 'y'>", "<!DOCTYPE r>"].enumerated() {
            // Pattern starting 6 bytes before the boundary (split), exactly at it, and 2 chunks later.
            for target in [chunk - 6, chunk, 2 * chunk + 1000] {
                let pad = target - head.utf8.count - 5
                let doc = head + "<!-- " + String(repeating: "x", count: pad) + pattern + " -->" + tail
                #expect(doc.utf8.count > target + pattern.utf8.count)
                let path = dir.appendingPathComponent("late-\(k)-\(target).xml").path
                try Data(doc.utf8).write(to: URL(fileURLWithPath: path))
                var sink = CollectingSink()
                let report = LabImporter.importFile(path: path, options: Self.options, sink: &sink)
                #expect(report.status == .rejected)
                #expect(report.error?.code == "E-XML-DTD-FORBIDDEN", "\(pattern) at byte \(target)")
            }
        }
    }

    @Test(".xml.gz inputs read like plain files; a truncated gzip is rejected")
    func gzipInput() throws {
        let doc = Self.neutral(
            (0..<2000).map { Self.result("G\($0)", #"<Quantified unit="copies/mL">52400</Quantified>"#) }.joined())
        let dir = Paths.temporaryDirectory("labs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("e.xml").path
        let gz = dir.appendingPathComponent("e.xml.gz").path
        try Data(doc.utf8).write(to: URL(fileURLWithPath: plain))
        let compressed = try Gzip.compress(Array(doc.utf8))
        try Data(compressed).write(to: URL(fileURLWithPath: gz))
        let a = LabImporter.check(path: plain, options: Self.options)
        let b = LabImporter.check(path: gz, options: Self.options)
        #expect(a.status == .accepted && b.status == .accepted)
        #expect(b.results.count == 2000)
        #expect(a.results.map(\.id) == b.results.map(\.id))
        // Truncated gzip stream: rejected, nothing returned.
        let broken = dir.appendingPathComponent("broken.xml.gz").path
        try Data(compressed.prefix(compressed.count / 2)).write(to: URL(fileURLWithPath: broken))
        let c = LabImporter.check(path: broken, options: Self.options)
        #expect(c.status == .rejected)
        #expect(c.results.isEmpty)
        // zlib reports a cut stream either as a read error or as the end of a (then truncated) document.
        #expect(["E-FILE-IO", "E-XML-NOT-WELL-FORMED"].contains(c.error?.code ?? "none"))
    }

    @Test("result strings: every form of domain.md section 3")
    func normaliser() throws {
        func n(_ s: String) throws -> NormalizedString { try ResultNormalizer.normalize(s) }
        #expect(try n("4.56E+03").value == 4560)
        #expect(try n("38,500 copies/mL").value == 38500)
        #expect(try n("10,000,000 cp/mL").value == 10_000_000)
        #expect(try n("< 2.00E+01 cp/mL").outcome == .belowLimit)
        #expect(try n("<20 Detected").detected == true)
        #expect(try n("detected, <20").detected == true)
        #expect(try n("< 1.60 Log Copies/mL").form == .log10)
        #expect(try n("Target Not Detected").outcome == .notDetected)
        #expect(try n("TND").outcome == .notDetected)
        #expect(try n("No HIV-1 RNA detected").outcome == .notDetected)
        #expect(try n("> 1.00E+07 cp/mL").outcome == .aboveLimit)
        for f in ["Invalid", "Failed", "Error", "Aborted", "QNS", "Indeterminate", "Unsatisfactory"] {
            #expect(try n(f).outcome == .failed)
        }
        #expect(throws: ResultNormalizer.Failure.self) { try n("1,5E+04") }
        #expect(throws: ResultNormalizer.Failure.self) { try n("1,50,000") }
        #expect(throws: ResultNormalizer.Failure.self) { try n("Positive") }
        #expect(throws: ResultNormalizer.Failure.self) { try n("Detected") }
    }

    @Test("the synthetic cohort's lab XML imports cleanly in both formats")
    func synthLabs() {
        var o = Self.options
        o.now = Date()
        for f in ["labs/hivrna-export.xml", "labs/hivrna-fhir.xml"] {
            let r = LabImporter.check(path: Paths.fixtures.appendingPathComponent("cohort/\(f)").path, options: o)
            #expect(r.status == .accepted, "\(f): \(r.error?.description ?? "") \(r.rejected)")
            #expect(r.results.count > 20)
        }
    }
}
