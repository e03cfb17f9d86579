import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store
import TestSupport
import Testing

@testable import cytoingest

@Suite("cytoingest validate and report")
struct ValidateCommandTests {
    static let config = Paths.repoRoot.appendingPathComponent("pipeline.json").path
    static let cohort = Paths.fixtures.appendingPathComponent("cohort")

    static func exitCode(_ arguments: [String]) throws -> Int32 {
        var command = try CytoIngest.parseAsRoot(arguments)
        do {
            try command.run()
            return 0
        } catch let e as ExitCode {
            return e.rawValue
        }
    }

    @Test("exit 0 when every comparison passes, 65 when one fails; the report is written either way")
    func exitCodes() throws {
        let dir = Paths.temporaryDirectory("validate-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("r.html").path
        let good = Self.cohort.appendingPathComponent("manual-gating.csv").path
        #expect(
            try Self.exitCode([
                "validate", "--manual", good, "--config", Self.config, "--report", report, "--format", "json",
            ]) == 0)
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(html.contains("id=\"verdict\">PASS") && html.hasPrefix("<!DOCTYPE html>"))
        // One manual CD4 % moved by 3 points.
        var text = try String(contentsOfFile: good, encoding: .utf8)
        text = text.replacingOccurrences(
            of: "P001_M00.fcs.gz,cd4,1274,28.58,300", with: "P001_M00.fcs.gz,cd4,1274,31.58,300")
        let bad = dir.appendingPathComponent("bad.csv").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: bad))
        #expect(try Self.exitCode(["validate", "--manual", bad, "--config", Self.config, "--report", report]) == 65)
        #expect(try String(contentsOfFile: report, encoding: .utf8).contains("id=\"verdict\">FAIL"))
        // A malformed manual file: 65, nothing written.
        let broken = dir.appendingPathComponent("broken.csv").path
        try Data("sample,population\n".utf8).write(to: URL(fileURLWithPath: broken))
        try? FileManager.default.removeItem(atPath: report)
        #expect(try Self.exitCode(["validate", "--manual", broken, "--config", Self.config, "--report", report]) == 65)
        #expect(!FileManager.default.fileExists(atPath: report))
        // The cohort's FlowJo workspace.
        #expect(
            try Self.exitCode([
                "validate", "--manual", Self.cohort.appendingPathComponent("flowjo/P003_M03.wsp").path, "--config",
                Self.config,
            ]) == 0)
    }

    @Test(
        "--flowjo-binning: FlowJo's binned polygon count reproduced (exit 0), exact evaluation differs (65); CSV refuses it"
    )
    func flowJoBinning() throws {
        guard Paths.sharedAvailable("flowjo") else {
            print("skipped: ../shared/corpus/flowjo is absent")
            return
        }
        let wsp = Paths.sharedCorpus.appendingPathComponent(
            "flowjo/simple_line_example/simple_poly_and_rect_v2_poly50.wsp"
        )
        .path
        #expect(try Self.exitCode(["validate", "--manual", wsp, "--config", Self.config]) == 65)
        #expect(try Self.exitCode(["validate", "--manual", wsp, "--config", Self.config, "--flowjo-binning"]) == 0)
        let csv = Self.cohort.appendingPathComponent("manual-gating.csv").path
        #expect(throws: (any Error).self) {
            try Self.exitCode(["validate", "--manual", csv, "--config", Self.config, "--flowjo-binning"])
        }
    }

    @Test("report renders the panel plots of given files; an unreadable file is named and exits 65")
    func reportCommand() throws {
        let dir = Paths.temporaryDirectory("report-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("r.html").path
        let a = Self.cohort.appendingPathComponent("fcs/P001_M00.fcs.gz").path
        #expect(try Self.exitCode(["report", "--config", Self.config, "-o", out, a]) == 0)
        var html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.components(separatedBy: "<svg class=\"plot density\"").count - 1 == 6)
        #expect(html.contains("CD4 /µL") && html.contains("CD8 /µL") && !html.contains("<script"))
        // No manual gates on this page: no "manual gate" legend.
        #expect(html.contains("automated gate") && !html.contains("manual gate"))
        let junk = dir.appendingPathComponent("junk.fcs").path
        try Data("FCS3.1    not really".utf8).write(to: URL(fileURLWithPath: junk))
        #expect(try Self.exitCode(["report", "--config", Self.config, "-o", out, a, junk]) == 65)
        html = try String(contentsOfFile: out, encoding: .utf8)
        #expect(html.components(separatedBy: "<svg class=\"plot density\"").count - 1 == 6)
    }

    @Test("validate --format json has the documented shape: every field present, absent values null")
    func jsonShape() throws {
        let r = try CLIProcess.run([
            "validate", "--config", Self.config, "--manual",
            Self.cohort.appendingPathComponent("manual-gating.csv").path, "--format", "json",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["samples"] as? [[String: Any]])
        #expect(rows.count == 96)
        for key in [
            "sample", "population", "automated", "manual", "deltaPct", "automatedAbs", "manualAbs", "deltaAbs",
            "deltaAbsRelative", "pass", "note", "failures",
        ] {
            #expect(rows.allSatisfy { $0[key] != nil }, "samples[].\(key)")
        }
        let metrics = try #require(json["metrics"] as? [[String: Any]])
        for key in ["metric", "n", "bias", "loaLow", "loaHigh", "ccc", "pearson", "precision", "recall", "f1"] {
            #expect(metrics.allSatisfy { $0[key] != nil }, "metrics[].\(key)")
        }
        #expect(rows.contains { $0["note"] is NSNull }, "absent values are null")
        #expect(json["pass"] as? Bool == true && json["schemaVersion"] as? Int == 1)
        #expect(json["flowJoEvaluation"] as? String == "display")
    }
}
