import Foundation
import TestSupport
import Testing

/// Configuration a lab can trust (issue 14): every configuration error is one line on stderr,
/// names the key or input and what to do, exits 78 without usage text; check-config resolves
/// everything a run would read.
@Suite("Configuration errors and check-config (whole processes)")
struct ConfigurationTests {
    /// A configuration beside the fixture cohort, with `edit` applied to pipeline.json's text.
    static func config(_ dir: URL, _ name: String, _ edit: (String) -> String) throws -> String {
        var text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"fixtures/", with: "\"\(Paths.fixtures.path)/")
        text = text.replacingOccurrences(of: "\"cytoingest.sqlite\"", with: "\"\(dir.path)/store.sqlite\"")
        let path = dir.appendingPathComponent(name).path
        try Data(edit(text).utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("every configuration error: exit 78, one line each on stderr, what is wrong and what to do, no usage text")
    func errors() throws {
        let dir = Paths.temporaryDirectory("config-errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let cases: [(name: String, command: String, edit: (String) -> String, expected: String)] = [
            (
                "typo-top", "run", { $0.replacingOccurrences(of: "\"registry\"", with: "\"regsitry\"") },
                "$.regsitry: unknown key; did you mean registry?"
            ),
            (
                "typo-nested", "run", { $0.replacingOccurrences(of: "\"minLymphocytes\"", with: "\"minLymphocyte\"") },
                "$.qc.minLymphocyte: unknown key; did you mean minLymphocytes?"
            ),
            (
                "population", "run",
                { $0.replacingOccurrences(of: "\"cd4Cd25\": \"CD4_CD25\"", with: "\"cd4cd25\": \"CD4_CD25\"") },
                "$.gating.gates.cd4cd25: unknown key; did you mean cd4Cd25?"
            ),
            (
                "mode", "run", { $0.replacingOccurrences(of: "\"mode\": \"template\"", with: "\"mode\": \"adaptiv\"") },
                "$.gating.mode: must be one of template, adaptive"
            ),
            ("json", "records", { $0 + "}" }, "$: is not valid JSON"),
            (
                "strategy", "run",
                { $0.replacingOccurrences(of: "cohort/panel.xml", with: "cohort/panel-missing.xml") },
                "$.gating.strategy: file"
            ),
            (
                "gate", "run", { $0.replacingOccurrences(of: "\"cd4\": \"CD4T\"", with: "\"cd4\": \"CD4-T\"") },
                "$.gating.gates.cd4: gate CD4-T is not in"
            ),
            (
                "registry", "check-config",
                { $0.replacingOccurrences(of: "registry.csv", with: "registry-missing.csv") },
                "$.registry: file"
            ),
            (
                "input-missing", "run", { $0.replacingOccurrences(of: "cohort/fcs\"", with: "cohort/fcs-unmounted\"") },
                "$.inputs.fcs: \(Paths.fixtures.path)/cohort/fcs-unmounted: no such file or folder"
            ),
            (
                "input-empty", "run",
                { $0.replacingOccurrences(of: "\"\(Paths.fixtures.path)/cohort/fcs\"", with: "\"\(empty.path)\"") },
                "the folder holds no input file"
            ),
            (
                "glob", "run", { $0.replacingOccurrences(of: "cohort/fcs\"", with: "cohort/*/*.nothing\"") },
                "the pattern matches no file"
            ),
        ]
        for c in cases {
            let path = try Self.config(dir, c.name + ".json", c.edit)
            let r = try CLIProcess.run([c.command, "--config", path])
            #expect(r.status == 78, "\(c.name): exit \(r.status), \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            #expect(
                !lines.isEmpty && lines.allSatisfy { $0.hasPrefix("error[E-CONFIG]: \(path): ") },
                "\(c.name): \(r.stderr)")
            #expect(r.stderr.contains(c.expected), "\(c.name): \(r.stderr)")
            #expect(!r.stderr.contains("Usage") && !r.stderr.contains("NSCocoaErrorDomain"), "\(c.name)")
        }
        // --log-format json: the same errors as JSON lines.
        let path = try Self.config(dir, "typo-json.json") {
            $0.replacingOccurrences(of: "\"registry\"", with: "\"regsitry\"")
        }
        let r = try CLIProcess.run(["run", "--config", path, "--log-format", "json"])
        #expect(r.status == 78)
        let line = try #require(try JSONSerialization.jsonObject(with: Data(r.stderr.utf8)) as? [String: Any])
        #expect(
            line["code"] as? String == "E-CONFIG" && line["path"] as? String == "$.regsitry"
                && line["level"] as? String == "error")
        #expect(line["timestamp"] is String)
    }

    @Test("check-config on the fixture cohort and on a two-instrument synth cohort with patient sub-folders")
    func checkConfig() throws {
        let fixture = try CLIProcess.run([
            "check-config", "--config", Paths.fixtures.appendingPathComponent("cohort/pipeline.json").path,
        ])
        #expect(fixture.status == 0, "\(fixture.stderr)")
        #expect(
            fixture.stdout.contains("FCS files: 24 (default: 24)") && fixture.stdout.hasSuffix("OK\n"),
            "\(fixture.stdout)")
        let dir = Paths.temporaryDirectory("check-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let synth = try CLIProcess.run([
            "synth", dir.path, "--seed", "4", "--patients", "3", "--months", "3", "--events", "20000", "--instruments",
            "2",
            "--naming", "detector", "--drift", "mild",
        ])
        #expect(synth.status == 0, "\(synth.stderr)")
        // One folder per patient, and a partial download that must be passed over.
        let fcs = dir.appendingPathComponent("fcs")
        for name in try FileManager.default.contentsOfDirectory(atPath: fcs.path) {
            let patient = fcs.appendingPathComponent(String(name.prefix(4)))
            try FileManager.default.createDirectory(at: patient, withIntermediateDirectories: true)
            try FileManager.default.moveItem(
                at: fcs.appendingPathComponent(name), to: patient.appendingPathComponent(name))
        }
        try Data("partial".utf8).write(to: fcs.appendingPathComponent("P001/P001_M03.fcs.part"))
        let config = dir.appendingPathComponent("pipeline.json").path
        let check = try CLIProcess.run(["check-config", "--config", config])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("input folder fcs/P001: 3 file(s)"), "\(check.stdout)")
        #expect(check.stdout.contains("skipped") && check.stdout.contains("P001_M03.fcs.part"), "\(check.stdout)")
        #expect(
            check.stdout.contains("Attune NxT:") && check.stdout.contains("default:"),
            "both instruments resolve: \(check.stdout)")
        let run = try CLIProcess.run(["run", "--config", config, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let samples = try CLIProcess.run(["samples", "--config", config, "--format", "json"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(samples.stdout.utf8)) as? [String: Any])
        let rows = try #require(doc["samples"] as? [[String: Any]])
        #expect(rows.count == 9)
        #expect(
            Set(rows.compactMap { $0["instrument"] as? String }) == ["default", "Attune NxT"],
            "the choice is recorded per sample")
        // A marker pattern that matches two channels: the file is rejected, never stored with wrong values.
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"CD4\": [\"CD4\"]", with: "\"CD4\": [\"CD4*\"]")
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        let ambiguous = try CLIProcess.run(["check-config", "--config", config])
        #expect(
            ambiguous.status == 78 && ambiguous.stdout.contains("several markers (CD4, CD45)"), "\(ambiguous.stdout)")
    }
}
