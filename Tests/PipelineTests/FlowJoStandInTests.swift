import FCSParser
import Foundation
import Gating
import Review
import Synth
import TestSupport
import Testing

@testable import Pipeline

/// The 8-colour FlowJo workspaces of the corpus replayed on stand-in FCS files (our writer: the
/// samples' names, channels, spillover and time step; events spread over every gate) and
/// compared with FlowKit 1.3.2 on the same files (`fixtures/flowjo-standins/flowkit-counts.csv`,
/// written by `Scripts/flowjo-standin-reference.py`; provenance in fixtures/README.md).
@Suite("FlowJo replay on the display scale equals FlowKit (8-colour stand-ins)")
struct FlowJoStandInTests {
    static let folder = Paths.sharedCorpus.appendingPathComponent("flowjo/8_color_data_set")
    static let reference = Paths.repoRoot.appendingPathComponent("fixtures/flowjo-standins/flowkit-counts.csv")

    /// The reference file: its comment lines (file hashes, versions) and its rows.
    static func readReference() throws -> (comments: [String], rows: [[String: String]]) {
        let text = try String(contentsOf: reference, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let comments = lines.filter { $0.hasPrefix("#") }.map(String.init)
        let body = lines.filter { !$0.hasPrefix("#") }.joined(separator: "\n")
        return (comments, CSV.records(body))
    }

    /// Our replay of one workspace on the stand-ins: (sample, population path) -> count.
    static func replay(
        _ wsp: String, in dir: URL, evaluation: FlowJoWorkspace.Sample.Evaluation = .display
    ) throws -> [String: Int] {
        let ws = try FlowJoWorkspace.read(path: folder.appendingPathComponent(wsp).path)
        var validator = try ValidationTests.validator(try ValidationTests.config(), search: [dir.path])
        validator.flowJoEvaluation = evaluation
        validator.maxPlotEvents = 0
        let report = validator.validate(workspace: ws)
        #expect(report.unmatched.isEmpty, "\(wsp): \(report.unmatched)")
        var out: [String: Int] = [:]
        for r in report.replay { out[r.sample + "|" + r.population] = r.ours }
        return out
    }

    @Test("every population of six workspaces equals FlowKit's count; ellipses equal the exact ellipse")
    func standIns() throws {
        guard Paths.sharedAvailable("flowjo") else {
            print("skipped: ../shared/corpus/flowjo is absent (the 8-colour workspaces are read in place)")
            return
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter {
            $0.hasSuffix(".wsp")
        }.sorted()
        #expect(names.count == 7)
        let workspaces = try names.map { try FlowJoWorkspace.read(path: Self.folder.appendingPathComponent($0).path) }
        let files = try FlowJoStandIns.make(workspaces: workspaces, events: 30_000, seed: 1)
        let dir = Paths.temporaryDirectory("standins")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (comments, rows) = try Self.readReference()
        #expect(files.count == 3)
        for f in files {
            try Data(f.bytes).write(to: dir.appendingPathComponent(f.name))
            var hasher = SHA256Hasher()
            hasher.update(Data(f.bytes))
            let hex = hasher.hex()
            // A changed generator needs a new reference (Scripts/flowjo-standin-reference.py).
            #expect(comments.contains("# \(f.name) sha256 \(hex)"), "stand-in \(f.name) differs from the reference's")
        }
        var compared = 0, ellipses = 0
        for wsp in Set(rows.map { $0["workspace"]! }).sorted() {
            let ours = try Self.replay(String(wsp.split(separator: "/").last!), in: dir)
            for r in rows where r["workspace"] == wsp {
                let key = r["sample"]! + "|" + r["gate_path"]!
                let got = try #require(ours[key], "\(wsp) \(key) not replayed")
                let flowKit = Int(r["flowkit_count"]!)!
                if let exact = Int(r["exact_count"] ?? "") {
                    // FlowKit approximates a FlowJo ellipse by a 128-vertex polygon.
                    #expect(got == exact, "\(wsp) \(key): ours \(got), exact ellipse \(exact)")
                    #expect(abs(got - flowKit) <= max(3, flowKit / 200), "\(wsp) \(key): FlowKit \(flowKit)")
                    ellipses += 1
                } else {
                    #expect(got == flowKit, "\(wsp) \(key): ours \(got), FlowKit \(flowKit)")
                }
                #expect(got > 0, "\(wsp) \(key): the stand-ins leave the gate empty")
                compared += 1
            }
        }
        #expect(compared == 180 && ellipses == 3)
        // FlowKit refuses the workspace whose gates are named with dots; it is 8_color_ICS.wsp
        // renamed, so our counts must be that workspace's, population for population.
        let dotted = try Self.replay("8_color_ICS_dot_gate_name.wsp", in: dir)
        let plain = try Self.replay("8_color_ICS.wsp", in: dir)
        #expect(dotted.count == plain.count)
        #expect(dotted.values.sorted() == plain.values.sorted())
    }

    @Test("FlowJo polygons carry their axes' display transforms; the binned strategy puts vertices on the 256 grid")
    func rawScaleDiffers() throws {
        guard Paths.sharedAvailable("flowjo") else {
            print("skipped: ../shared/corpus/flowjo is absent")
            return
        }
        let ws = try FlowJoWorkspace.read(path: Self.folder.appendingPathComponent("8_color_ICS.wsp").path)
        let sample = ws.samples[0]
        let display = try sample.strategy(.display)
        let cd4 = try #require(display.gate("Time/Singlets/aAmine-/CD3+/CD4+"))
        guard case .polygon(let dims, let vertices) = cd4.kind else {
            Issue.record("CD4+ is not a polygon")
            return
        }
        // The vertices moved onto the logicle display scale ([0, 1]), the dimensions carry it.
        #expect(dims.allSatisfy { $0.transformation?.hasPrefix("flowjo-display:Comp-") == true })
        #expect(vertices.allSatisfy { $0.allSatisfy { $0 > -0.1 && $0 < 1.1 } })
        let raw = try #require(
            sample.populations.first { $0.pathString == "Time/Singlets/aAmine-/CD3+/CD4+" })
        guard case .geometry(.polygon(_, let rawVertices)) = raw.gate else { return }
        #expect(rawVertices.contains { $0.contains { abs($0) > 100 } })
        // A binned strategy rounds the vertices onto the 256 grid and bins both axes.
        let binned = try sample.strategy(.binned)
        guard case .polygon(let bdims, let bverts) = binned.gate("Time/Singlets/aAmine-/CD3+/CD4+")!.kind else {
            return
        }
        #expect(bdims.allSatisfy { binned.transformations[$0.transformation!]?.bins == 256 })
        #expect(bverts.allSatisfy { $0.allSatisfy { ($0 * 256).rounded() == $0 * 256 } })
    }

    @Test("FlowJo's biex table is reproduced within 0.002 of 4,096 channels")
    func biexTable() throws {
        guard Paths.sharedAvailable("flowjo") else {
            print("skipped: ../shared/corpus/flowjo is absent")
            return
        }
        let url = Paths.sharedCorpus.appendingPathComponent(
            "flowjo/flowjo_xforms/tr_biex_l256_w-7.943282_n1.000000_m4.418540_r262144.000029.csv")
        let rows = CSV.records(try String(contentsOf: url, encoding: .utf8))
        #expect(rows.count == 4096)
        let table = FlowJoBiexTable(neg: 1, width: -7.943282, pos: 4.41854, maxRange: 262_144.000029)
        var worst = 0.0
        for r in rows {
            let channel = Double(r["i"]!)!, value = Double(r["lookup[i]"]!)!
            // FlowJo prints 6 significant digits: compare where that resolves a channel.
            let p = table.position(value) * 4096
            worst = max(worst, abs(p - channel))
        }
        print("biex table: worst difference from FlowJo's \(worst) channels")
        #expect(worst < 0.002, "worst \(worst) channels")
        // The table's own inverse and forward agree.
        for p in stride(from: 0.0, through: 1.0, by: 1.0 / 64) {
            #expect(abs(table.position(table.value(p)) - p) < 1e-12)
        }
    }
}
