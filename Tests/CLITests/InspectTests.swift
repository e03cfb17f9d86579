import ArgumentParser
import CytoModel
import FCSParser
import Foundation
import Pipeline
import Store
import TestSupport
import Testing

@testable import cytoingest

@Suite("cytoingest inspect")
struct InspectTests {
    static let fixtures = Paths.fixtures.appendingPathComponent("fcs")

    @Test("JSON document: files, data sets, parameters, stats, head and tail")
    func json() throws {
        let path = Self.fixtures.appendingPathComponent("pass/two_datasets.fcs").path
        let report = InspectReport.make(path: path, options: FCSReader.Options(), stats: true)
        let data = try InspectReport.encoder.encode(InspectDocument(files: [report]))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try #require(doc["files"] as? [[String: Any]])
        #expect(files.count == 1)
        #expect(files[0]["file"] as? String == path)
        #expect(files[0]["version"] as? String == "FCS3.1")
        #expect(files[0]["error"] == nil)
        let sets = try #require(files[0]["datasets"] as? [[String: Any]])
        #expect(sets.map { $0["events"] as? Int } == [25, 30])
        let params = try #require(sets[1]["parameters"] as? [[String: Any]])
        #expect(params.map { $0["name"] as? String } == ["FL1", "FL2"])
        #expect(params[0]["label"] is NSNull, "label is null, not absent, when $PnS is missing")
        #expect(params[0]["bits"] as? Int == 16)
        let stats = try #require(params[0]["stats"] as? [String: Double])
        let reader = try FCSReader(path: path)
        let column = try reader.readEvents(dataSet: 1).columns[0]
        #expect(stats["min"] == column.min())
        #expect(stats["max"] == column.max())
        #expect(stats["sum"] == column.reduce(0, +))
        let head = try #require(sets[1]["head"] as? [[Double]])
        let tail = try #require(sets[1]["tail"] as? [[Double]])
        #expect(head.count == 3 && tail.count == 3)
        #expect(head[0][0] == column[0])
        #expect(tail[2][0] == column[29])
        let keywords = try #require(sets[0]["keywords"] as? [String: String])
        #expect(keywords["$PAR"] == "4")
    }

    @Test("an unreadable file gets an error entry; the others are still reported; exit 65")
    func errorsAndExitCode() throws {
        let good = Self.fixtures.appendingPathComponent("pass/f32_le_fcs3.1.fcs").path
        let bad = Self.fixtures.appendingPathComponent("fail/truncated_data.fcs").path
        let r = InspectReport.make(path: bad, options: FCSReader.Options(), stats: false)
        #expect(r.error?.code == "truncated_data")
        #expect(r.error?.offset != nil)
        let command = try Inspect.parse([good, bad, "--format", "json"])
        #expect(throws: ExitCode.self) { try command.run() }
        do {
            try command.run()
        } catch let code as ExitCode {
            #expect(code.rawValue == 65)
        }
        let ok = try Inspect.parse([good, "--stats"])
        try ok.run()
    }

    @Test("human summary names parameters, spillover and warnings")
    func human() throws {
        let path = Self.fixtures.appendingPathComponent("quirks/enddata_one_past_end.fcs").path
        let text = InspectReport.make(path: path, options: FCSReader.Options(), stats: true).humanText()
        #expect(text.contains("20 events, 3 parameters"))
        #expect(text.contains("FL1"))
        #expect(text.contains("data_end_off_by_one"))
        let spill = InspectReport.make(
            path: Self.fixtures.appendingPathComponent("pass/f32_le_fcs3.1.fcs").path, options: FCSReader.Options(),
            stats: false)
        #expect(spill.humanText().contains("spillover: $SPILLOVER 2x2"))
    }

    @Test("bad option values are usage errors")
    func usage() {
        #expect(throws: (any Error).self) { try Inspect.parse(["x.fcs", "--offsets", "sideways"]) }
    }
}

@Suite("cytoingest inspect with a configuration")
struct InspectConfigTests {
    @Test("no FILE: inspects inputs.fcs of the configuration, folders expanded")
    func configured() throws {
        let paths = try Inspect.configuredInputs(Paths.repoRoot.appendingPathComponent("pipeline.json").path)
        #expect(paths.count == 24)
        #expect(paths.allSatisfy { $0.contains("fixtures/cohort/fcs/") })
        #expect(paths == paths.sorted())
        let dir = Paths.temporaryDirectory("config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"inputs": {"fcs": ["nowhere"]}}"#.utf8).write(to: bad)
        // Configuration errors exit 78 (EX_CONFIG), never with the usage text.
        #expect(throws: ExitCode(78)) { try Inspect.configuredInputs(bad.path) }
        #expect(throws: ExitCode(78)) {
            try Inspect.configuredInputs(dir.appendingPathComponent("missing.json").path)
        }
    }
}
