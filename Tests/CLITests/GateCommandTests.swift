import ArgumentParser
import CytoModel
import FCSParser
import Foundation
import Pipeline
import Store
import TestSupport
import Testing

@testable import cytoingest

@Suite("cytoingest gate")
struct GateCommandTests {
    /// A small FCS file on channels A-D with a $SPILLOVER, and the fixture strategy.
    static func files() throws -> (fcs: String, xml: String, dir: URL) {
        let dir = Paths.temporaryDirectory("gate")
        var rng = SeededRandom(seed: 4)
        let n = 1000
        let cols: [[Double]] = [
            (0..<n).map { _ in Double(Float(Double.random(in: -100...1100, using: &rng))) },
            (0..<n).map { _ in Double(Float(Double.random(in: -100...1100, using: &rng))) },
            (0..<n).map { _ in Double(Float(Double.random(in: -50...20000, using: &rng))) },
            (0..<n).map { _ in Double(Float(Double.random(in: -10...10, using: &rng))) },
        ]
        var o = FCSWriteOptions()
        o.spillover = FCSSpillover(channels: ["A", "B"], matrix: [[1, 0.1], [0, 1]])
        let path = dir.appendingPathComponent("t.fcs").path
        try Data(
            try FCSWriter.encode(
                columns: cols, parameters: ["A", "B", "C", "D"].map { FCSWriteParameter(name: $0) }, options: o)
        ).write(to: URL(fileURLWithPath: path))
        return (path, Paths.fixtures.appendingPathComponent("gatingml/all-kinds.xml").path, dir)
    }

    @Test("population table, JSON and membership CSV agree with each other")
    func outputs() throws {
        let (fcs, xml, dir) = try Self.files()
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("m.csv").path
        let report = try GateCommand.gate(file: fcs, strategyPath: xml, dataSet: 0, membershipPath: csv)
        #expect(report.events == 1000)
        let json = try #require(try JSONSerialization.jsonObject(with: report.json()) as? [String: Any])
        #expect(json["file"] as? String == fcs)
        #expect(json["events"] as? Int == 1000)
        let gates = try #require(json["gates"] as? [[String: Any]])
        #expect(gates.count == report.gates.count)
        #expect(
            gates.allSatisfy {
                $0["id"] is String && $0["count"] is Int && $0["percentParent"] is Double
                    && $0["percentTotal"] is Double && $0.keys.contains("parent")
            })
        let rows = CSV.rows(try String(contentsOfFile: csv, encoding: .utf8))
        #expect(rows.count == 1001)
        #expect(rows[0] == report.gates.map(\.id))
        for (g, entry) in report.gates.enumerated() {
            #expect(rows.dropFirst().filter { $0[g] == "1" }.count == entry.count, "\(entry.id)")
        }
        let quad = try #require(report.gates.first { $0.id == "QLowA" })
        #expect(quad.parent == "Range")
        #expect(report.table().contains("/Range/QLowA"))
    }

    @Test("a bad strategy or file exits 65 with a coded error")
    func errors() throws {
        let (fcs, xml, dir) = try Self.files()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.xml")
        try Data("<not-gating-ml/>".utf8).write(to: bad)
        for args in [
            [fcs, "--gating-ml", bad.path],
            [Paths.fixtures.appendingPathComponent("fcs/fail/truncated_data.fcs").path, "--gating-ml", xml],
        ] {
            let cmd = try GateCommand.parse(args)
            do {
                try cmd.run()
                Issue.record("expected exit 65")
            } catch let code as ExitCode {
                #expect(code.rawValue == 65)
            }
        }
    }
}
