import ArgumentParser
import CytoModel
import FCSParser
import Foundation
import Gating

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Apply a Gating-ML 2.0 strategy to an FCS file and print the population table.",
        discussion: """
            Events are pre-processed the Gating-ML way ($PnE log decoding, $PnG, $TIMESTEP) and \
            streamed in blocks. Exits 65 when the file or the strategy is rejected.
            """
    )

    @Argument(help: "The FCS file.")
    var file: String

    @Option(name: .customLong("gating-ml"), help: "The Gating-ML 2.0 strategy.")
    var gatingML: String

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "Write per-event membership as CSV: one 0/1 column per gate, one row per event in file order.")
    var membership: String?

    @Option(help: "Data set to gate (0-based).")
    var dataSet: Int = 0

    func run() throws {
        do {
            let report = try Self.gate(file: file, strategyPath: gatingML, dataSet: dataSet, membershipPath: membership)
            switch format {
            case .json: print(String(decoding: try report.json(), as: UTF8.self))
            case .text: print(report.table(), terminator: "")
            }
        } catch let e as FCSError {
            printError(e.description)
            throw exitDataError
        } catch let e as GatingError {
            printError(e.description)
            throw exitDataError
        }
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
            throw ValidationError("\(file) has \(reader.dataSets.count) data set(s)")
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
                throw ValidationError("cannot write \(membershipPath)")
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
