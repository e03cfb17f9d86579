import Analysis
import ArgumentParser
import CytoModel
import FCSParser
import Foundation
import Gating
import Pipeline

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Apply a Gating-ML 2.0 strategy to FCS files and print the population table.",
        discussion: """
            Events are pre-processed the Gating-ML way ($PnE log decoding, $PnG, $TIMESTEP) and \
            streamed in blocks. With --gating-ml the strategy must name the files' own channels \
            ($PnN); with --config the configuration's strategy is applied through its panel mapping \
            and instrument profiles, as `run` applies it (template gates). Exits 65 when a file or \
            the strategy is rejected; the other files are still gated.

            Examples:
              cytoingest gate --gating-ml panel.xml sample.fcs
              cytoingest gate --config pipeline.json fcs/P001_M01.fcs fcs/P001_M02.fcs --format csv
              cytoingest gate --gating-ml panel.xml sample.fcs --membership events.csv
            """
    )

    @Argument(help: "FCS files.")
    var files: [String]

    @Option(name: .customLong("gating-ml"), help: "The Gating-ML 2.0 strategy (on the files' $PnN names).")
    var gatingML: String?

    @Option(
        help: "A configuration whose strategy, panel mapping and instruments gate the files (instead of --gating-ml).")
    var config: String?

    @Option(help: "Output format: text, csv or json.")
    var format: OutputFormat = .text

    @Option(
        help:
            "Write per-event membership as CSV: one 0/1 column per gate, one row per event in file order (one file only)."
    )
    var membership: String?

    @Option(help: "Data set to gate (0-based; --gating-ml only).")
    var dataSet: Int = 0

    func validate() throws {
        guard (gatingML == nil) != (config == nil) else {
            throw ValidationError("give either --gating-ml STRATEGY or --config pipeline.json")
        }
        if membership != nil && (files.count != 1 || config != nil) {
            throw ValidationError("--membership writes one file's events: give one FILE and --gating-ml")
        }
    }

    func run() throws {
        if let membership { try checkWritable(membership) }
        var reports: [Report] = []
        var failed = false
        let analyzer: SampleAnalyzer?
        if let config {
            var cfg: PipelineConfiguration
            do { cfg = try PipelineConfiguration.load(path: config) } catch {
                throw configurationFailure(error, file: config)
            }
            cfg.gating.mode = .template
            do { analyzer = try cfg.makeAnalyzer() } catch { throw configurationFailure(error, file: config) }
        } else {
            analyzer = nil
        }
        for file in files {
            do {
                if let analyzer {
                    reports.append(try Self.gate(file: file, analyzer: analyzer))
                } else {
                    reports.append(
                        try Self.gate(
                            file: file, strategyPath: gatingML!, dataSet: dataSet, membershipPath: membership))
                }
            } catch let e as FCSError {
                reportError(code: "FCS-\(e.code.rawValue)", file: file, e.description)
                failed = true
            } catch let e as GatingError {
                reportError(code: "GATING-\(e.code.rawValue)", file: file, e.description)
                failed = true
            } catch let e as SampleRejection {
                reportError(code: e.code.rawValue, file: file, e.message)
                failed = true
            }
        }
        switch format {
        case .json:
            print(String(decoding: try jsonEncoder().encode(Document(files: reports)), as: UTF8.self))
        case .csv:
            print("file,events,gate,parent,count,percent_parent,percent_total")
            for r in reports {
                for g in r.gates {
                    print(
                        [
                            csvField(r.file), String(r.events), csvField(g.path), csvField(g.parent ?? ""),
                            String(g.count), String(format: "%.4f", g.percentParent),
                            String(format: "%.4f", g.percentTotal),
                        ].joined(separator: ","))
                }
            }
        case .text:
            for r in reports { print(r.table(), terminator: "") }
        }
        if failed { throw exitDataError }
    }

    struct Document: Encodable {
        var schemaVersion = 1
        var files: [Report]
    }

    /// Gates a file with the configuration's template, as `run` would (panel names, instrument
    /// profile, compensation), and reports the strategy's counts.
    static func gate(file: String, analyzer: SampleAnalyzer) throws -> Report {
        var request = AnalysisRequest(path: file, displayName: file)
        // Gate even when the file names no patient or date (the run would reject it for that).
        request.plotEvents = 1
        let a = analyzer.analyze(request)
        if let f = a.failure { throw f }
        guard let strategy = a.strategy else {
            throw SampleRejection(code: .internalError, message: "the file was not gated")
        }
        return Report(
            file: file, events: a.events,
            gates: strategy.gates.map { g in
                let n = a.counts[g.id] ?? 0
                let parentCount = g.parentID.map { a.counts[$0] ?? 0 } ?? a.events
                return Report.Entry(
                    id: g.id, parent: g.parentID, path: strategy.gateID(g.id).description, count: n,
                    percentParent: parentCount > 0 ? 100 * Double(n) / Double(parentCount) : 0,
                    percentTotal: a.events > 0 ? 100 * Double(n) / Double(a.events) : 0)
            })
    }

    struct Report: Encodable {
        var schemaVersion = 1
        var file: String
        var events: Int
        var gates: [Entry]
        struct Entry: Encodable {
            var id: String
            @Null var parent: String?
            var path: String
            var count: Int
            var percentParent: Double
            var percentTotal: Double
        }

        func json() throws -> Data { try jsonEncoder().encode(self) }

        func table() -> String {
            var rows = [["gate", "count", "% parent", "% total"]]
            for g in gates {
                rows.append([
                    g.path, String(g.count), String(format: "%.2f", g.percentParent),
                    String(format: "%.2f", g.percentTotal),
                ])
            }
            return "\(file): \(events) events\n" + cytoingest.table(rows, indent: "  ")
        }
    }

    /// Streams the data set through the strategy; writes membership CSV when asked.
    static func gate(file: String, strategyPath: String, dataSet: Int, membershipPath: String?) throws -> Report {
        let strategy = try GatingMLReader.read(path: strategyPath)
        let reader = try FCSReader(path: file)
        guard reader.dataSets.indices.contains(dataSet) else {
            throw runtimeFailure(
                .noDataSet, file: file, "the file has \(reader.dataSets.count) data set(s); --data-set counts from 0")
        }
        let set = reader.dataSets[dataSet]
        let spill = try set.spillover().map { try SpilloverMatrix(fcs: $0) }
        let engine = try GatingEngine(
            strategy: strategy, channels: set.parameters.map(\.name), labels: set.parameters.map(\.label),
            fcsSpillover: spill)
        var out: FileHandle?
        if let membershipPath {
            guard FileManager.default.createFile(atPath: membershipPath, contents: nil),
                let h = FileHandle(forWritingAtPath: membershipPath)
            else {
                throw runtimeFailure(.output, file: membershipPath, "cannot be created")
            }
            out = h
            h.write(Data((strategy.gates.map { csvField($0.id) }.joined(separator: ",") + "\n").utf8))
        }
        defer { try? out?.close() }
        let counts = try GatingEngine.gateBlocks(.stream(reader, dataSet: dataSet), engines: [engine]) { block in
            let masks = block.masks[0]
            if let out {
                var text = ""
                text.reserveCapacity(block.count * masks.count * 2)
                for e in 0..<block.count {
                    for g in masks.indices {
                        if g > 0 { text.append(",") }
                        text.append(masks[g][e] == 1 ? "1" : "0")
                    }
                    text.append("\n")
                }
                out.write(Data(text.utf8))
            }
        }
        let result = engine.result(counts: counts[0], total: set.eventCount, membership: nil)
        return Report(
            file: file, events: set.eventCount,
            gates: result.gates.map {
                Report.Entry(
                    id: $0.id, parent: $0.parent, path: $0.path.description, count: $0.count,
                    percentParent: $0.percentParent, percentTotal: $0.percentTotal)
            })
    }
}

func csvField(_ s: String) -> String { CSVTable.quote(s) }

func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// The one error style of every command, on stderr: `error[CODE]: file: reason` (control
/// characters in the file name and reason spelled out: one error is one line).
func reportError(code: String, file: String, _ reason: String) {
    printError("error[\(code)]: \(displayText(file)): \(displayText(reason))")
}

/// Text as a terminal log shows it: C0/C1 control characters and DEL as `\u{..}`, a backslash
/// doubled, so that no name forges a line or sends an escape sequence.
func displayText(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars {
        if u == "\\" {
            out += "\\\\"
        } else if u.value < 0x20 || (0x7F...0x9F).contains(u.value) {
            out += "\\u{\(String(u.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out
}

/// A failure while running (not a usage error: no usage text): reported in the one error style,
/// with its exit code (73: an output cannot be written; 66: an input is missing; 65: bad input).
func runtimeFailure(_ code: RejectionCode, file: String, _ reason: String) -> ExitCode {
    reportError(code: code.rawValue, file: file, reason)
    switch code {
    case .output: return ExitCode(73)
    case .noStore: return ExitCode(66)
    default: return exitDataError
    }
}

/// Fails early when `path` cannot be written (its folder is missing or not writable), before
/// any work whose result would then be lost.
func checkWritable(_ path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw runtimeFailure(.output, file: path, "the folder \(folder) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: folder) else {
        throw runtimeFailure(.output, file: path, "the folder \(folder) is not writable")
    }
}
