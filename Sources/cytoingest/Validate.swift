import Analysis
import ArgumentParser
import CytoModel
import Foundation
import Gating
import Pipeline
import Review

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Compare automated gating with manual gating (FlowJo workspace or manual-results CSV).",
        discussion: """
            A FlowJo 10 workspace (.wsp) is replayed with our gating core and compared with \
            FlowJo's stored counts; populations mapped under validation.flowjo in the \
            configuration are compared with the pipeline's results. A CSV (sample, population, \
            count/percent/absolute) is compared with the pipeline's results. FCS files are looked \
            up beside the workspace, under --fcs and under inputs.fcs. Exits 0 when everything \
            passes, 65 otherwise.

            Examples:
              cytoingest validate --manual fixtures/cohort/manual-gating.csv --report validation.html
              cytoingest validate --manual study.wsp --fcs /data/fcs --format csv
            """
    )

    @Option(help: "Manual gating: a FlowJo .wsp or a manual-results .csv.")
    var manual: String

    @Option(help: "Configuration file.")
    var config: String = "pipeline.json"

    @Option(help: "Folder (or file) holding the FCS files of the manual samples (repeatable).")
    var fcs: [String] = []

    @Option(help: "Write the HTML report (self-contained, works offline) to this file.")
    var report: String?

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(
        name: .customLong("flowjo-binning"),
        help:
            "Replay FlowJo polygons and ellipses on FlowJo's 256-bin display, as FlowJo counts them (FlowJo-exact mode; docs/validation.md). Default: exact event values on the display scale."
    )
    var flowJoBinning = false

    func run() throws {
        if let report { try checkWritable(report) }
        let cfg: PipelineConfiguration
        do { cfg = try PipelineConfiguration.load(path: config) } catch {
            throw configurationFailure(error, file: config)
        }
        let isWorkspace = manual.lowercased().hasSuffix(".wsp") || manual.lowercased().hasSuffix(".xml")
        var validator = try cfg.makeValidator(fcs: fcs, workspace: isWorkspace ? manual : nil)
        if flowJoBinning {
            guard isWorkspace else {
                throw ValidationError("--flowjo-binning applies to a FlowJo workspace (.wsp), not to a CSV")
            }
            validator.flowJoEvaluation = .binned
        }
        let result: ValidationReport
        if isWorkspace {
            do {
                result = validator.validate(workspace: try FlowJoWorkspace.read(path: manual))
            } catch {
                reportError(
                    code: "GATING-\(error.code.rawValue)", file: manual,
                    error.message + (error.line.map { " (line \($0))" } ?? ""))
                throw exitDataError
            }
        } else {
            do {
                result = validator.validate(manual: try ManualResultsCSV.read(path: manual), source: manual)
            } catch {
                reportError(
                    code: error.code.rawValue, file: manual, (error.line.map { "line \($0): " } ?? "") + error.message)
                throw exitDataError
            }
        }
        if let report {
            let html = ReportRenderer(gating: cfg.gating, validation: cfg.validation).validationPage(result)
            do { try Data(html.utf8).write(to: URL(fileURLWithPath: report), options: .atomic) } catch {
                throw runtimeFailure(.output, file: report, error.localizedDescription)
            }
        }
        switch format {
        case .json:
            print(String(decoding: try jsonEncoder().encode(ValidationDocument(result)), as: UTF8.self))
        case .csv:
            print(
                "sample,population,automated_pct,manual_pct,delta_pct,automated_per_ul,manual_per_ul,delta_per_ul,pass,failures"
            )
            for s in result.samples {
                let fields: [String] = [
                    s.sample, s.population, cell(s.automated, 4), cell(s.manual, 4), cell(s.deltaPct, 4),
                    cell(s.automatedAbs, 2), cell(s.manualAbs, 2), cell(s.deltaAbs, 2), s.pass ? "yes" : "no",
                    (s.failures + (s.note.map { [$0] } ?? [])).joined(separator: "; "),
                ]
                print(fields.map(csvField).joined(separator: ","))
            }
        case .text:
            print(Self.text(result), terminator: "")
        }
        if !result.pass { throw exitDataError }
    }

    static func text(_ r: ValidationReport) -> String {
        var out = ""
        if !r.samples.isEmpty {
            var rows = [
                [
                    "sample", "population", "automated %", "manual %", "delta pts", "auto /uL", "manual /uL",
                    "delta /uL", "pass",
                ]
            ]
            for s in r.samples {
                rows.append([
                    s.sample, s.population, cell(s.automated, 2), cell(s.manual, 2), cell(s.deltaPct, 2),
                    cell(s.automatedAbs, 0), cell(s.manualAbs, 0), cell(s.deltaAbs, 0),
                    s.pass ? "pass" : "FAIL" + ((s.failures + (s.note.map { [$0] } ?? [])).map { " (\($0))" }.joined()),
                ])
            }
            out += "Automated vs manual\n" + table(rows, indent: "  ")
        }
        if !r.metrics.isEmpty {
            var rows = [["metric", "n", "bias", "LoA low", "LoA high", "CCC", "Pearson r", "F1"]]
            for m in r.metrics {
                rows.append([
                    m.metric, String(m.n), cell(m.bias, 3), cell(m.loaLow, 3), cell(m.loaHigh, 3), cell(m.ccc, 4),
                    cell(m.pearson, 4), cell(m.f1, 4),
                ])
            }
            out += "Agreement\n" + table(rows, indent: "  ")
        }
        if !r.replay.isEmpty {
            var rows = [["sample", "population", "gate", "FlowJo", "ours", "diff", "allowed", "pass"]]
            for p in r.replay {
                rows.append([
                    p.sample, p.population, p.gateType, p.flowJo.map(String.init) ?? "-1", String(p.ours),
                    p.difference.map(String.init) ?? "", p.allowed.map(String.init) ?? "",
                    p.pass.map { $0 ? "pass" : "FAIL" } ?? "not stored",
                ])
            }
            out += "FlowJo workspace replayed\n" + table(rows, indent: "  ")
        }
        for u in r.unmatched { out += "unmatched: \(u.sample): \(u.message) [\(u.code)]\n" }
        out += r.pass ? "PASS\n" : "FAIL\n"
        return out
    }
}

/// `validate --format json`: absent values are null, so the shape never depends on the data.
struct ValidationDocument: Encodable {
    struct Tolerances: Encodable {
        var percentPoints: Double
        var absoluteRelative: Double
        var absoluteLowCells: Double
        var lowAbsolute: Double
    }
    struct Sample: Encodable {
        var sample: String
        var population: String
        @Null var automated: Double?
        @Null var manual: Double?
        @Null var deltaPct: Double?
        @Null var automatedAbs: Double?
        @Null var manualAbs: Double?
        @Null var deltaAbs: Double?
        @Null var deltaAbsRelative: Double?
        var pass: Bool
        @Null var note: String?
        /// The criteria the row failed, in words (empty when it passes).
        var failures: [String]
    }
    struct Metric: Encodable {
        var metric: String
        var n: Int
        @Null var bias: Double?
        @Null var loaLow: Double?
        @Null var loaHigh: Double?
        @Null var ccc: Double?
        @Null var pearson: Double?
        @Null var precision: Double?
        @Null var recall: Double?
        @Null var f1: Double?
    }
    struct Replay: Encodable {
        var sample: String
        var population: String
        var gateType: String
        @Null var flowJo: Int?
        var ours: Int
        @Null var difference: Int?
        @Null var allowed: Int?
        @Null var pass: Bool?
    }
    struct Unmatched: Encodable {
        var sample: String
        var code: RejectionCode
        var message: String
    }

    var schemaVersion = 1
    var manual: String
    var tolerances: Tolerances
    var samples: [Sample]
    var metrics: [Metric]
    var replay: [Replay]
    /// How FlowJo gates were replayed: display (exact values on the display scale) or binned.
    var flowJoEvaluation: String
    var unmatched: [Unmatched]
    var pass: Bool

    init(_ r: ValidationReport) {
        manual = r.manualSource
        flowJoEvaluation = r.flowJoEvaluation.rawValue
        tolerances = Tolerances(
            percentPoints: r.tolerances.percentPoints, absoluteRelative: r.tolerances.absoluteRelative,
            absoluteLowCells: r.tolerances.absoluteLowCells, lowAbsolute: r.tolerances.lowAbsolute)
        samples = r.samples.map {
            Sample(
                sample: $0.sample, population: $0.population, automated: $0.automated, manual: $0.manual,
                deltaPct: $0.deltaPct,
                automatedAbs: $0.automatedAbs, manualAbs: $0.manualAbs, deltaAbs: $0.deltaAbs,
                deltaAbsRelative: $0.deltaAbsRelative, pass: $0.pass, note: $0.note, failures: $0.failures)
        }
        metrics = r.metrics.map {
            Metric(
                metric: $0.metric, n: $0.n, bias: $0.bias, loaLow: $0.loaLow, loaHigh: $0.loaHigh, ccc: $0.ccc,
                pearson: $0.pearson,
                precision: $0.precision, recall: $0.recall, f1: $0.f1)
        }
        replay = r.replay.map {
            Replay(
                sample: $0.sample, population: $0.population, gateType: $0.gateType, flowJo: $0.flowJo, ours: $0.ours,
                difference: $0.difference, allowed: $0.allowed, pass: $0.pass)
        }
        unmatched = r.unmatched.map { Unmatched(sample: $0.sample, code: $0.code, message: $0.message) }
        pass = r.pass
    }
}
