import Analysis
import CytoModel
import FCSParser
import Foundation
import Gating
import Labs
import Records
import Review
import Store
import TestSupport
import Testing

@testable import Pipeline

/// Validation against manual gates: FlowJo workspaces (the corpus when present, our own
/// workspaces otherwise), the manual-results CSV, the statistics, and the report.
@Suite("Validation against manual gating")
struct ValidationTests {
    static let flowjo = Paths.sharedCorpus.appendingPathComponent("flowjo")

    static func config() throws -> PipelineConfiguration {
        try PipelineConfiguration.load(path: Paths.repoRoot.appendingPathComponent("pipeline.json").path)
    }

    static func validator(
        _ config: PipelineConfiguration, search: [String] = [], workspace: String? = nil
    ) throws -> Validator {
        try config.makeValidator(fcs: search, workspace: workspace)
    }

    // MARK: Statistics

    @Test("Bland–Altman, Lin's CCC and Pearson r equal values computed independently")
    func statistics() {
        // Reference values from Python's statistics module and the textbook formulas.
        let s = AgreementStatistics(pairs: [(10, 11), (20.5, 19.5), (31, 30), (39, 41), (52.5, 50)])
        #expect(s.n == 5)
        #expect(abs(s.bias! - 0.3) < 1e-12)
        #expect(abs(s.sdDifference! - 1.7888543819998317) < 1e-12)
        #expect(abs(s.loaLow! - -3.20615458871967) < 1e-12)
        #expect(abs(s.loaHigh! - 3.8061545887196697) < 1e-12)
        #expect(abs(s.ccc! - 0.9935957853017231) < 1e-12)
        #expect(abs(s.pearson! - 0.994650102481262) < 1e-12)
        // Perfect agreement; one pair; non-finite pairs dropped.
        let same = AgreementStatistics(pairs: [(1, 1), (2, 2), (3, 3)])
        #expect(same.bias == 0 && same.ccc == 1 && same.pearson == 1 && same.loaLow == 0)
        let one = AgreementStatistics(pairs: [(5, 3), (.nan, 1)])
        #expect(one.n == 1 && one.bias == 2 && one.loaLow == nil && one.ccc == nil)
        // A constant offset keeps r = 1 but lowers the concordance.
        let shifted = AgreementStatistics(pairs: [(2, 1), (3, 2), (4, 3)])
        #expect(abs(shifted.pearson! - 1) < 1e-12)
        #expect(abs(shifted.ccc! - 4.0 / 7.0) < 1e-12)  // 2*(2/3) / (2/3 + 2/3 + 1)

        var e = EventAgreement()
        e.add(automated: [1, 1, 0, 0, 1], manual: [1, 0, 1, 0, 1], count: 5)
        #expect(e.truePositives == 2 && e.falsePositives == 1 && e.falseNegatives == 1)
        #expect(e.precision == 2.0 / 3 && e.recall == 2.0 / 3 && abs(e.f1! - 2.0 / 3) < 1e-12)
    }

    // MARK: Manual CSV

    @Test("the cohort's manual worksheet: every comparison within tolerance, exit status pass")
    func cohortCSV() throws {
        let config = try Self.config()
        let csv = Paths.fixtures.appendingPathComponent("cohort/manual-gating.csv").path
        let manual = try ManualResultsCSV.read(path: csv)
        #expect(manual.count == 24 * 6)
        let report = try Self.validator(config, search: [config.resolve("fixtures/cohort/fcs")]).validate(
            manual: manual, source: csv)
        #expect(report.unmatched.isEmpty)
        #expect(report.samples.count == 24 * 4)
        #expect(report.samples.allSatisfy { $0.pass })
        #expect(report.pass)
        let cd4 = try #require(report.metrics.first { $0.metric == "cd4Pct" })
        #expect(cd4.n == 24 && abs(cd4.bias!) < 0.1 && cd4.ccc! > 0.999)
        #expect(report.metrics.map(\.metric) == ["cd4Pct", "cd4Abs", "cd8Pct", "cd8Abs", "cd8HladrPct", "cd4Cd25Pct"])
        // The JSON document's shape: CLITests (ValidateCommandTests.jsonShape).
    }

    @Test("a manual value off by more than the tolerance fails that row only; absolute tolerance switches at 200/uL")
    func csvTolerances() throws {
        let config = try Self.config()
        let dir = Paths.temporaryDirectory("manual-csv")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fcs = config.resolve("fixtures/cohort/fcs")
        // P002_M00: CD4 98/uL (low stratum), P003_M03: CD4 1004/uL.
        let text = """
            sample,population,count,percent,absolute
            P002_M00.fcs.gz,cd4,,15.22,75
            P002_M00.fcs.gz,cd8,,41.79,268
            P003_M03.fcs,cd4,,52.80,1004
            P003_M03,cd8,,31.39,700
            P003_M03,cd4Cd25,317,,
            P003_M03,cd4,,,
            """
        let path = dir.appendingPathComponent("m.csv").path
        // The last row has no value: rejected with its line.
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ManualResultsError.self) { try ManualResultsCSV.read(path: path) }
        do {
            _ = try ManualResultsCSV.read(path: path)
            Issue.record("a row without a value must be refused")
        } catch {
            #expect(error.code == "E-MANUAL-ROW" && error.line == 7)
        }
        try Data(text.split(separator: "\n").dropLast().joined(separator: "\n").utf8).write(
            to: URL(fileURLWithPath: path))
        let manual = try ManualResultsCSV.read(path: path)
        let report = try Self.validator(config, search: [fcs]).validate(manual: manual, source: path)
        #expect(report.unmatched.isEmpty)
        func row(_ s: String, _ p: String) throws -> SampleComparison {
            try #require(report.samples.first { ManualSamples.key($0.sample) == s.lowercased() && $0.population == p })
        }
        // 98 vs 75/uL: 23 cells below 200/uL -> fails (> 20 cells); percent equal.
        let low = try row("P002_M00", "cd4")
        #expect(!low.pass && abs(low.deltaPct!) < 0.05 && abs(low.deltaAbs! - 23) < 1)
        #expect(try row("P002_M00", "cd8").pass)
        // CD4 50.66 % vs 52.80 %: 2.1 points -> fails; absolute equal.
        let pct = try row("P003_M03", "cd4")
        #expect(!pct.pass && abs(pct.deltaPct! + 2.14) < 0.05)
        // CD8 622 vs 700/uL: -11 % -> fails.
        let abs8 = try row("P003_M03", "cd8")
        #expect(!abs8.pass && abs(abs8.deltaAbsRelative! + 11.1) < 0.2)
        // CD25 from the count: 317 / manual CD4 count (none given) -> no percent -> skipped row.
        #expect(report.samples.first { $0.population == "cd4Cd25" } == nil)
        #expect(!report.pass)
        #expect(report.samples.count == 4)
        // Each failing row names the criterion it failed, and the report lists failures first.
        #expect(low.failures == ["|Δ| 23 cells/µL > 20 cells/µL (manual below 200/µL)"], "\(low.failures)")
        #expect(pct.failures == ["|Δ| 2.14 points > 2 points"], "\(pct.failures)")
        #expect(abs8.failures == ["|Δ| 11.2 % > 10 % of the manual /µL"], "\(abs8.failures)")
        #expect(try row("P002_M00", "cd8").failures.isEmpty)
        let html = ReportRenderer(gating: config.gating, validation: config.validation).validationPage(report)
        let failing = try #require(html.range(of: "id=\"failing\""))
        let metrics = try #require(html.range(of: "id=\"metrics\""))
        #expect(failing.lowerBound < metrics.lowerBound)
        #expect(html.contains("FAIL – |Δ| 2.14 points &gt; 2 points"))
        // Bland–Altman points carry their sample.
        #expect(html.contains("<circle class=\"pt\"") && html.contains("<title>P003_M03"))
    }

    @Test("malformed manual CSVs are rejected with codes and lines; unknown samples are reported")
    func csvErrors() throws {
        let cases: [(String, String, Int?)] = [
            ("population,count\nP1,cd4,3\n", "E-MANUAL-HEADER", 1),
            ("sample,population\nP1,cd4\n", "E-MANUAL-HEADER", 1),
            ("sample,population,percent\nP1,monocytes,3\n", "E-MANUAL-POPULATION", 2),
            ("sample,population,percent\nP1,cd4,130\n", "E-MANUAL-VALUE", 2),
            ("sample,population,count\nP1,cd4,-3\n", "E-MANUAL-VALUE", 2),
            ("sample,population,percent\nP1,CD4+,3\nP1.fcs,cd4t,4\n", "E-MANUAL-DUPLICATE", 3),
            ("sample,population,percent\n\"P1,cd4,3\n", "E-MANUAL-CSV", 2),
            ("sample,population,percent\n", "E-MANUAL-EMPTY", nil),
        ]
        for (text, code, line) in cases {
            do {
                _ = try ManualResultsCSV.parse(text, file: "m.csv")
                Issue.record("\(code) expected for \(text.debugDescription)")
            } catch {
                #expect(error.code.rawValue == code, "\(text.debugDescription)")
                #expect(error.line == line, "\(text.debugDescription)")
            }
        }
        // Aliases and a percent sign are accepted.
        let ok = try ManualResultsCSV.parse(
            "file,gate,percent\nX.fcs,CD8+HLA-DR+,40%\nX.fcs,CD4/CD25+,9\n", file: "m.csv")
        #expect(ok.map(\.population) == [.cd8Hladr, .cd4Cd25] && ok[0].percent == 40)
        let config = try Self.config()
        let report = try Self.validator(config).validate(manual: ok, source: "m.csv")
        #expect(report.unmatched.map(\.code) == ["E-FCS-NOT-FOUND"] && !report.pass)
    }
}
