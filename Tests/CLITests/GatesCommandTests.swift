import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store
import Synth
import TestSupport
import Testing

@testable import cytoingest

@Suite("cytoingest run (adaptive) and gates")
struct GatesCommandTests {
    @Test("adaptive run stores each file's gates; the export replays with `cytoingest gate` to the stored counts")
    func exportReplays() async throws {
        let dir = Paths.temporaryDirectory("gates-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        var o = SynthOptions()
        o.patients = 1
        o.months = 3
        o.events = 15_000
        o.drift = .strong
        o.instruments = 2
        try await CohortSynthesizer(options: o).write(to: dir.appendingPathComponent("cohort"))
        var text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"mode\": \"template\"", with: "\"mode\": \"adaptive\"")
        text = text.replacingOccurrences(of: "fixtures/cohort/", with: "cohort/")
        text = text.replacingOccurrences(
            of: "\"strategy\": \"cohort/panel.xml\"", with: "\"strategy\": \"\(Paths.fixtures.path)/cohort/panel.xml\"")
        let config = dir.appendingPathComponent("pipeline.json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        let run = try #require(try CytoIngest.parseAsRoot(["run", "--config", config, "--quiet"]) as? RunCommand)
        try await run.run()
        let store = try SQLiteRecordStore(path: dir.appendingPathComponent("cytoingest.sqlite").path)
        let samples = try store.samples()
        #expect(samples.count == 3)
        for s in samples {
            let fcs = dir.appendingPathComponent(s.file).path
            let xml = dir.appendingPathComponent("gates.xml").path
            var export = try CytoIngest.parseAsRoot(["gates", "--config", config, s.file, "-o", xml])
            try export.run()
            let report = try GateCommand.gate(file: fcs, strategyPath: xml, dataSet: 0, membershipPath: nil)
            func count(_ id: String) -> Int? { report.gates.first { $0.id == id }?.count }
            #expect(
                count("Lymphocytes") == s.lymphocyteEvents && count("CD4T") == s.cd4Events
                    && count("CD8T") == s.cd8Events)
            #expect(
                count("Beads") == s.beadEvents && count("CD8_HLADR") == s.cd8HladrEvents
                    && count("CD4_CD25") == s.cd4Cd25Events)
            #expect(
                try String(contentsOfFile: xml, encoding: .utf8).contains(
                    "Gates applied to this file by cytoingest adaptive gating"))
        }
        // An unknown file: 65.
        var missing = try CytoIngest.parseAsRoot(["gates", "--config", config, "nope.fcs"])
        #expect(throws: ExitCode.self) { try missing.run() }
    }
}
