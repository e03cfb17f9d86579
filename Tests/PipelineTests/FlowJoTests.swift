import Analysis
import CytoModel
import FCSParser
import Foundation
import Gating
import Labs
import Records
import Review
import SafeXML
import Store
import TestSupport
import Testing

@testable import Pipeline

/// FlowJo 10 workspaces: the corpus (FlowJo's own stored counts) when ../shared is present, and
/// workspaces written here for our cohort files and for malformed input.
@Suite("FlowJo workspace import")
struct FlowJoTests {
    static let corpus = Paths.sharedCorpus.appendingPathComponent("flowjo")
    static var corpusPresent: Bool { Paths.sharedAvailable("flowjo") }

    /// FlowJo's counts reproduced by our gating core on every corpus workspace whose FCS file is
    /// present: (workspace, population, FlowJo count, our count).
    static let expected: [(String, String, Int, Int)] = [
        ("simple_diamond_example/simple_diamond_example_quad_gate.wsp", "Q1: channel_A- , channel_B+", 49671, 49671),
        ("simple_diamond_example/simple_diamond_example_quad_gate.wsp", "Q2: channel_A+ , channel_B+", 50596, 50596),
        ("simple_diamond_example/simple_diamond_example_quad_gate.wsp", "Q3: channel_A+ , channel_B-", 50330, 50330),
        ("simple_diamond_example/simple_diamond_example_quad_gate.wsp", "Q4: channel_A- , channel_B-", 49403, 49403),
        ("simple_diamond_example/test_data_diamond_asinh_rect.wsp", "upper_right", 50559, 50559),
        ("simple_diamond_example/test_data_diamond_asinh_rect2.wsp", "upper_right", 50699, 50699),
        ("simple_diamond_example/test_data_diamond_biex_rect.wsp", "upper_right", 50605, 50605),
        ("simple_line_example/simple_poly_and_rect_v2_poly50.wsp", "rect1", 0, 0),
        // FlowJo evaluates this polygon on binned display data and stores 0; the exact polygon
        // holds 50 events (FlowKit agrees: 50). The one known disagreement (FlowKit#113).
        ("simple_line_example/simple_poly_and_rect_v2_poly50.wsp", "poly1", 0, 50),
        ("simple_line_example/single_ellipse_51_events.wsp", "ellipse1", 51, 51),
    ]

    @Test(
        "corpus: FlowJo's stored counts reproduced (rectangles, quadrants, ellipse exactly; the binned polygon in FlowJo-exact mode)",
        arguments: FlowJoWorkspace.Sample.Evaluation.allCases)
    func corpusCounts(evaluation: FlowJoWorkspace.Sample.Evaluation) throws {
        guard Self.corpusPresent else {
            print("skipped: ../shared/corpus/flowjo is absent (FlowJo corpus tests need it)")
            return
        }
        let config = try ValidationTests.config()
        var seen = 0
        for wsp in Set(Self.expected.map(\.0)).sorted() + ["simple_line_example/simple_poly_and_rect.wsp"] {
            let ws = try FlowJoWorkspace.read(path: Self.corpus.appendingPathComponent(wsp).path)
            var validator = try ValidationTests.validator(config, workspace: ws.file)
            validator.flowJoEvaluation = evaluation
            let report = validator.validate(workspace: ws)
            #expect(report.unmatched.isEmpty, "\(wsp)")
            #expect(report.replay.first { $0.population == "(all events)" }.map { $0.pass == true } == true, "\(wsp)")
            for (w, population, flowJo, exact) in Self.expected where w == wsp {
                let row = try #require(report.replay.first { $0.population == population }, "\(wsp) \(population)")
                // FlowJo-exact mode: FlowJo's own count, every one.
                let ours = evaluation == .binned ? flowJo : exact
                #expect(row.flowJo == flowJo, "\(wsp) \(population)")
                #expect(row.ours == ours, "\(wsp) \(population) \(evaluation)")
                #expect(row.pass == (flowJo == ours), "\(wsp) \(population)")
                seen += 1
            }
            if wsp.hasSuffix("simple_poly_and_rect.wsp") {
                // count -1: FlowJo did not compute them; not comparable, not failing.
                #expect(
                    report.replay.filter { $0.population != "(all events)" }.allSatisfy {
                        $0.flowJo == nil && $0.pass == nil
                    })
                #expect(report.pass)
            }
            // The report draws one plot per 2-D gate with the manual outline.
            let html = ReportRenderer(gating: config.gating, validation: config.validation).validationPage(report)
            let gates = ws.samples[0].populations.count
            #expect(html.components(separatedBy: "<svg class=\"plot density\"").count - 1 == gates, "\(wsp)")
            #expect(html.components(separatedBy: "class=\"gate manual\"").count - 1 == gates, "\(wsp)")
        }
        #expect(seen == Self.expected.count)
    }

    @Test("corpus: the 8-colour workspaces parse fully and every population's stored count matches FlowKit's reading")
    func corpusEightColour() throws {
        guard Self.corpusPresent else {
            print("skipped: ../shared/corpus/flowjo is absent (FlowJo corpus tests need it)")
            return
        }
        let rows = CSV.records(
            try String(contentsOf: Self.corpus.appendingPathComponent("flowkit-counts.csv"), encoding: .utf8))
        let summary = CSV.records(
            try String(contentsOf: Self.corpus.appendingPathComponent("workspaces.csv"), encoding: .utf8))
        let config = try ValidationTests.config()
        var checked = 0
        for wsp in Set(rows.map { $0["workspace"]! }).sorted() where wsp.hasPrefix("8_color") {
            let ws = try FlowJoWorkspace.read(path: Self.corpus.appendingPathComponent(wsp).path)
            for s in ws.samples {
                let expectedRows = rows.filter { $0["workspace"] == wsp && $0["sample_id"] == s.name }
                #expect(!expectedRows.isEmpty, "\(wsp) \(s.name)")
                let line = try #require(summary.first { $0["workspace"] == wsp && $0["sample_id"] == s.name })
                #expect(s.populations.count == Int(line["populations"]!), "\(wsp) \(s.name)")
                #expect(
                    Set(s.groups) == Set(line["groups"]!.split(separator: ";").map(String.init)), "\(wsp) \(s.name)")
                for r in expectedRows {
                    let stored = Int(r["flowjo_count"]!)
                    if r["gate_name"] == "root" {
                        #expect(s.flowJoCount == stored)
                        continue
                    }
                    var path = r["gate_path"]!.split(separator: "/").map(String.init).dropFirst().map { $0 }
                    path.append(r["gate_name"]!)
                    let p = try #require(s.populations.first { $0.path == path }, "\(wsp) \(s.name) \(path)")
                    #expect(p.flowJoCount == stored, "\(wsp) \(path)")
                    let flowKitType =
                        ["And(boolean)": "AndNode", "Or(boolean)": "OrNode", "Not(boolean)": "NotNode"][r["gate_type"]!]
                        ?? r["gate_type"]!
                    #expect(p.gate.typeName == flowKitType, "\(wsp) \(path)")
                    checked += 1
                }
                // Compensation and transforms.
                let m = try #require(s.matrix)
                #expect(m.prefix == "Comp-" && m.acquisitionDefined && m.spillover.detectors.count == 8)
                let kinds = Set(s.transforms.values.map(\.kindName))
                #expect(kinds.isSubset(of: ["linear", "logicle", "biex"]) && kinds.contains("linear"))
                #expect(kinds.contains(wsp.contains("reused_quad") ? "biex" : "logicle"))
                if !s.populations.isEmpty { _ = try s.strategy() }
            }
            // The FCS files are not in the corpus: each sample is reported, nothing crashes.
            let report = try ValidationTests.validator(config, workspace: ws.file).validate(workspace: ws)
            #expect(
                report.unmatched.count == ws.samples.count
                    && report.unmatched.allSatisfy {
                        $0.code == "E-FCS-NOT-FOUND" && $0.sample.hasSuffix("_clean.fcs")
                            && $0.message.contains("--fcs")
                    })
            #expect(!report.pass)
        }
        #expect(checked == 222)
    }
}

/// Workspaces written here: a FlowJo-10-shaped workspace for one of our cohort files (manual
/// gates drawn as a person would, on `Comp-` channels in raw units), and malformed ones.
@Suite("FlowJo workspace import (own workspaces)")
struct OwnWorkspaceTests {
    static let sampleFile = "P003_M03.fcs.gz"

    /// Raw value whose logicle (T 262144, W 0.5, M 4.5) position is `p`.
    static func logicleRaw(_ p: Double) throws -> Double {
        let t = try Transformation(.logicle(t: 262_144, w: 0.5, m: 4.5, a: 0))
        var lo = -10_000.0, hi = 262_144.0
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if t.apply(mid) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    static func dim(_ name: String, min: Double? = nil, max: Double? = nil) -> String {
        var a = ""
        if let min { a += " gating:min=\"\(min)\"" }
        if let max { a += " gating:max=\"\(max)\"" }
        return "<gating:dimension\(a)><data-type:fcs-dimension data-type:name=\"\(name)\"/></gating:dimension>"
    }

    static func population(
        _ name: String, _ path: String, _ gate: String, counts: [String: Int], children: String = ""
    ) -> String {
        "<Population name=\"\(name)\" count=\"\(counts[path] ?? -1)\"><Gate gating:id=\"\(path)\">\(gate)</Gate><Subpopulations>\(children)</Subpopulations></Population>"
    }

    /// The workspace; `counts` are the stored counts by path (-1 when absent).
    static func workspace(fcs: String, counts: [String: Int]) throws -> String {
        let reader = try FCSReader(path: fcs)
        let set = reader.dataSets[0]
        let spill = try #require(try set.spillover())
        var matrix =
            "<transforms:spilloverMatrix spectral=\"0\" prefix=\"Comp-\" name=\"Acquisition-defined\" suffix=\"\"><data-type:parameters>"
        for c in spill.channels {
            matrix += "<data-type:parameter data-type:name=\"\(c)\" userProvidedCompInfix=\"Comp-\(c)\"/>"
        }
        matrix += "</data-type:parameters>"
        for (i, c) in spill.channels.enumerated() {
            matrix += "<transforms:spillover data-type:parameter=\"\(c)\">"
            for (j, d) in spill.channels.enumerated() {
                matrix +=
                    "<transforms:coefficient data-type:parameter=\"\(d)\" transforms:value=\"\(spill.matrix[i][j])\"/>"
            }
            matrix += "</transforms:spillover>"
        }
        matrix += "</transforms:spilloverMatrix>"
        var transforms = "<Transformations>"
        for c in ["FSC-A", "FSC-H", "SSC-A"] {
            transforms +=
                "<transforms:linear transforms:minRange=\"0\" transforms:maxRange=\"262144\" gain=\"1\"><data-type:parameter data-type:name=\"\(c)\"/></transforms:linear>"
        }
        for c in spill.channels {
            transforms +=
                "<transforms:logicle transforms:length=\"256\" transforms:T=\"262144\" transforms:W=\"0.5\" transforms:M=\"4.5\" transforms:A=\"0\"><data-type:parameter data-type:name=\"\(c)\"/></transforms:logicle>"
        }
        transforms += "</Transformations>"
        let rect = { (dims: String) in "<gating:RectangleGate eventsInside=\"1\">\(dims)</gating:RectangleGate>" }
        let bead = try logicleRaw(0.683833), lymph = try logicleRaw(0.454338), cd3 = try logicleRaw(0.405797),
            q = try logicleRaw(0.381019)
        let dr = try logicleRaw(0.3568), cd25 = try logicleRaw(0.33099)
        let poly =
            "<gating:PolygonGate eventsInside=\"1\" gateResolution=\"256\"><gating:dimension><data-type:fcs-dimension data-type:name=\"Comp-CD45\"/></gating:dimension><gating:dimension><data-type:fcs-dimension data-type:name=\"SSC-A\"/></gating:dimension>"
            + [(500.0, 0.0), (200_000, 0), (200_000, 30_000), (500, 30_000)].map {
                "<gating:vertex><gating:coordinate data-type:value=\"\($0.0)\"/><gating:coordinate data-type:value=\"\($0.1)\"/></gating:vertex>"
            }.joined()
            + "</gating:PolygonGate>"
        // An ellipse in 256-bin display units around the CD4+ cluster (CD3 x CD4).
        let ellipse =
            "<gating:EllipsoidGate eventsInside=\"1\"><gating:dimension><data-type:fcs-dimension data-type:name=\"Comp-CD3\"/></gating:dimension><gating:dimension><data-type:fcs-dimension data-type:name=\"Comp-CD4\"/></gating:dimension>"
            + "<gating:foci><gating:vertex><gating:coordinate data-type:value=\"127\"/><gating:coordinate data-type:value=\"146\"/></gating:vertex><gating:vertex><gating:coordinate data-type:value=\"165\"/><gating:coordinate data-type:value=\"146\"/></gating:vertex></gating:foci>"
            + "<gating:edge><gating:vertex><gating:coordinate data-type:value=\"116\"/><gating:coordinate data-type:value=\"146\"/></gating:vertex><gating:vertex><gating:coordinate data-type:value=\"176\"/><gating:coordinate data-type:value=\"146\"/></gating:vertex>"
            + "<gating:vertex><gating:coordinate data-type:value=\"146\"/><gating:coordinate data-type:value=\"124\"/></gating:vertex><gating:vertex><gating:coordinate data-type:value=\"146\"/><gating:coordinate data-type:value=\"168\"/></gating:vertex></gating:edge></gating:EllipsoidGate>"
        let c = counts
        let cd4Pop = population(
            "CD4", "Lymphocytes/CD3/CD4", rect(dim("Comp-CD4", min: q) + dim("Comp-CD8", max: q)), counts: c,
            children: population("CD25+", "Lymphocytes/CD3/CD4/CD25+", rect(dim("Comp-CD25", min: cd25)), counts: c))
        let cd8Pop = population(
            "CD8", "Lymphocytes/CD3/CD8", rect(dim("Comp-CD4", max: q) + dim("Comp-CD8", min: q)), counts: c,
            children: population("HLA-DR+", "Lymphocytes/CD3/CD8/HLA-DR+", rect(dim("Comp-HLA-DR", min: dr)), counts: c)
        )
        let notCD4 =
            "<NotNode name=\"not CD4\" count=\"\(c["Lymphocytes/CD3/not CD4"] ?? -1)\"><Dependents><Dependent name=\"Lymphocytes/CD3/CD4\"/></Dependents></NotNode>"
        let cd3Pop = population(
            "CD3", "Lymphocytes/CD3", rect(dim("Comp-CD3", min: cd3)), counts: c, children: cd4Pop + cd8Pop + notCD4)
        let lymphPop = population(
            "Lymphocytes", "Lymphocytes", rect(dim("Comp-CD45", min: lymph) + dim("SSC-A", max: 28_000)), counts: c,
            children: cd3Pop + population("poly", "Lymphocytes/poly", poly, counts: c)
                + population("ellipse", "Lymphocytes/ellipse", ellipse, counts: c))
        let beads = population(
            "Beads", "Beads",
            rect(dim("Comp-CD25", min: bead) + dim("Comp-CD3", min: bead) + dim("SSC-A", min: 40_000, max: 90_000)),
            counts: c)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <Workspace version="20.0" flowJoVersion="10.8.1" xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
            <Groups><GroupNode name="All Samples"><Group name="All Samples"><SampleRefs><SampleRef sampleID="7"/></SampleRefs></Group></GroupNode></Groups>
            <SampleList><Sample><DataSet uri="file:/C:/lab/exports/\(sampleFile)" sampleID="7"/>\(matrix)\(transforms)
            <Keywords><Keyword name="$FIL" value="\(sampleFile)"/></Keywords>
            <SampleNode name="\(sampleFile)" count="\(c["(all events)"] ?? -1)" sampleID="7"><Subpopulations>\(beads)\(lymphPop)</Subpopulations></SampleNode>
            </Sample></SampleList></Workspace>
            """
    }

    static let mapping: [Population: String] = [
        .beads: "Beads", .lymphocytes: "Lymphocytes", .cd3: "Lymphocytes/CD3", .cd4: "Lymphocytes/CD3/CD4",
        .cd8: "Lymphocytes/CD3/CD8",
        .cd8Hladr: "Lymphocytes/CD3/CD8/HLA-DR+", .cd4Cd25: "Lymphocytes/CD3/CD4/CD25+",
    ]

    @Test(
        "a workspace on a cohort file: replayed exactly, mapped populations agree with the pipeline, F1 near 1, both outlines drawn"
    )
    func mappedWorkspace() throws {
        let config = try ValidationTests.config()
        #expect(config.validation.flowjo == Self.mapping, "pipeline.json maps the cohort workspace's populations")
        let fcsDir = config.resolve("fixtures/cohort/fcs")
        let dir = Paths.temporaryDirectory("wsp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("manual.wsp").path
        // First without stored counts (FlowJo's -1), then with the counts a FlowJo run would store.
        try Data(try Self.workspace(fcs: fcsDir + "/" + Self.sampleFile, counts: [:]).utf8).write(
            to: URL(fileURLWithPath: path))
        let first = try ValidationTests.validator(config, search: [fcsDir], workspace: path).validate(
            workspace: try FlowJoWorkspace.read(path: path))
        #expect(first.unmatched.isEmpty)
        #expect(first.samples.isEmpty)  // no stored counts, nothing to compare
        #expect(first.replay.count == 10)  // no stored sample count: no "(all events)" row
        let counts = Dictionary(uniqueKeysWithValues: first.replay.map { ($0.population, $0.ours) })
        // The ellipse (display units on logicle axes) and the polygon hold events.
        #expect(
            counts["Lymphocytes/ellipse"]! > 100 && counts["Lymphocytes/ellipse"]! < counts["Lymphocytes/CD3/CD4"]! + 50
        )
        #expect(counts["Lymphocytes/poly"]! > counts["Lymphocytes"]! / 2)
        #expect(counts["Lymphocytes/CD3/not CD4"]! == counts["Lymphocytes/CD3"]! - counts["Lymphocytes/CD3/CD4"]!)

        try Data(try Self.workspace(fcs: fcsDir + "/" + Self.sampleFile, counts: counts).utf8).write(
            to: URL(fileURLWithPath: path))
        let ws = try FlowJoWorkspace.read(path: path)
        #expect(ws.groups.map(\.name) == ["All Samples"] && ws.samples[0].groups == ["All Samples"])
        let report = try ValidationTests.validator(config, search: [fcsDir], workspace: ws.file).validate(workspace: ws)
        #expect(report.replay.allSatisfy { $0.pass == true })
        // Manual (no singlet gate) vs automated: within the default tolerances.
        #expect(report.samples.map(\.population) == ["cd3", "cd4", "cd8", "cd8Hladr", "cd4Cd25"])
        for row in report.samples {
            #expect(row.pass, "\(row.population): \(row.automated ?? -1) vs \(row.manual ?? -1)")
        }
        let cd4 = try #require(report.samples.first { $0.population == "cd4" })
        #expect(cd4.manualAbs != nil && abs(cd4.deltaAbsRelative!) < 5)
        #expect(report.pass)
        let metric = try #require(report.metrics.first { $0.metric == "cd4Pct" })
        #expect(metric.f1! > 0.97 && metric.precision! > 0.97 && metric.recall! > 0.97)
        // The committed copy (fixtures/cohort/flowjo) is this workspace, byte for byte.
        let committed = Paths.fixtures.appendingPathComponent("cohort/flowjo/P003_M03.wsp")
        #expect(
            try Data(contentsOf: committed)
                == Data(try Self.workspace(fcs: fcsDir + "/" + Self.sampleFile, counts: counts).utf8),
            "regenerate with CYTOINGEST_WRITE_FIXTURE=1")
        if ProcessInfo.processInfo.environment["CYTOINGEST_WRITE_FIXTURE"] == "1" {
            try Data(try Self.workspace(fcs: fcsDir + "/" + Self.sampleFile, counts: counts).utf8).write(to: committed)
        }
        let html = ReportRenderer(gating: config.gating, validation: config.validation).validationPage(report)
        // Six panel plots (beads, lymphocytes, CD3, CD4 and CD8, HLA-DR, CD25) with both outlines
        // (two of each on the CD4-CD8 plot), plus one plot per 2-D FlowJo gate (Lymphocytes, CD4,
        // CD8, poly, ellipse; not the 3-D beads, the 1-D CD3, CD25+, HLA-DR+, the boolean).
        #expect(html.components(separatedBy: "<svg class=\"plot density\"").count - 1 == 6 + 5)
        #expect(html.components(separatedBy: "class=\"gate automated\"").count - 1 == 7)
        #expect(html.components(separatedBy: "class=\"gate manual\"").count - 1 == 7 + 5)
        // Every plot says the % of its parent inside each gate; the sample has its verdict.
        #expect(html.components(separatedBy: "class=\"psub pct\"").count - 1 == 6 + 5)
        #expect(html.contains("class=\"badge pass\">PASS") && html.contains("Nothing failed."))
        #expect(
            !html.contains("<script") && !html.contains("http://www.w3.org/1999/xhtml") && !html.contains("src=\"http"))
    }

    @Test("malformed workspaces are rejected with codes, elements and lines")
    func malformed() throws {
        let ns =
            "xmlns:gating=\"http://www.isac-net.org/std/Gating-ML/v2.0/gating\" xmlns:data-type=\"http://www.isac-net.org/std/Gating-ML/v2.0/datatypes\" xmlns:transforms=\"http://www.isac-net.org/std/Gating-ML/v2.0/transformations\""
        func ws(_ body: String, version: String = "20.0") -> String {
            "<Workspace version=\"\(version)\" \(ns)><SampleList><Sample><DataSet uri=\"file:/x/a.fcs\" sampleID=\"1\"/><SampleNode name=\"a.fcs\" count=\"10\"><Subpopulations>\(body)</Subpopulations></SampleNode></Sample></SampleList></Workspace>"
        }
        let rect =
            "<Gate><gating:RectangleGate><gating:dimension gating:min=\"1\"><data-type:fcs-dimension data-type:name=\"A\"/></gating:dimension></gating:RectangleGate></Gate>"
        let cases: [(String, GatingError.Code, String?)] = [
            ("<Gating-ML/>", .badWorkspace, "Gating-ML"),
            (ws("", version: "2.0"), .badWorkspace, "Workspace"),
            ("<Workspace version=\"20.0\"/>", .badWorkspace, "Workspace"),
            ("<!DOCTYPE Workspace [<!ENTITY x \"y\">]><Workspace/>", .xml, nil),
            ("<Workspace version=\"20.0\"><SampleList>", .xml, nil),
            (ws("<Population name=\"p\" count=\"3\"/>"), .badWorkspace, "Population"),
            (ws("<Population name=\"p\" count=\"x\">\(rect)</Population>"), .badWorkspace, "Population"),
            (
                ws("<Population name=\"p\" count=\"3\"><Gate><gating:CurlyQuadGate/></Gate></Population>"),
                .badWorkspace, "CurlyQuadGate"
            ),
            (
                ws(
                    "<Population name=\"p\" count=\"3\"><Gate><gating:PolygonGate><gating:dimension><data-type:fcs-dimension data-type:name=\"A\"/></gating:dimension><gating:dimension><data-type:fcs-dimension data-type:name=\"B\"/></gating:dimension><gating:vertex><gating:coordinate data-type:value=\"1\"/><gating:coordinate data-type:value=\"1\"/></gating:vertex></gating:PolygonGate></Gate></Population>"
                ), .badWorkspace, "PolygonGate"
            ),
            (
                ws(
                    "<Population name=\"p\" count=\"3\"><Gate><gating:RectangleGate><gating:dimension gating:min=\"5\" gating:max=\"1\"><data-type:fcs-dimension data-type:name=\"A\"/></gating:dimension></gating:RectangleGate></Gate></Population>"
                ), .badWorkspace, "dimension"
            ),
            (
                ws(
                    "<Population name=\"p\" count=\"3\">\(rect)</Population><Population name=\"p\" count=\"3\">\(rect)</Population>"
                ), .badWorkspace, "Population"
            ),
            (ws("<NotNode name=\"n\" count=\"1\"><Dependents/></NotNode>"), .badWorkspace, "NotNode"),
        ]
        for (text, code, element) in cases {
            do {
                _ = try FlowJoWorkspace.read(bytes: Array(text.utf8), name: "bad.wsp")
                Issue.record("\(code) expected for \(text.prefix(80))")
            } catch {
                #expect(error.code == code, "\(text.prefix(80)): \(error)")
                if let element { #expect(error.element == element, "\(text.prefix(80)): \(error)") }
                #expect(error.file == "bad.wsp" && error.description.hasPrefix("bad.wsp"))
            }
        }
        // A boolean node on a population that does not exist is refused when the tree is built.
        let dangling = try FlowJoWorkspace.read(
            bytes: Array(
                ws("<NotNode name=\"n\" count=\"1\"><Dependents><Dependent name=\"q\"/></Dependents></NotNode>").utf8),
            name: "b.wsp")
        #expect(throws: GatingError.self) { try dangling.samples[0].strategy() }
        // A gate on a Comp- channel without a matrix names the channel.
        let comp = try FlowJoWorkspace.read(
            bytes: Array(
                ws(
                    "<Population name=\"p\" count=\"3\"><Gate><gating:RectangleGate><gating:dimension gating:min=\"1\"><data-type:fcs-dimension data-type:name=\"Comp-A\"/></gating:dimension></gating:RectangleGate></Gate></Population>"
                ).utf8), name: "c.wsp")
        do {
            _ = try comp.samples[0].strategy()
            Issue.record("a Comp- channel without a matrix must be refused")
        } catch {
            #expect(error.code == .unknownChannel && error.element == "Comp-A")
        }
    }
}
