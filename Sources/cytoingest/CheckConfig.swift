import ArgumentParser
import Foundation
import Pipeline

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration against the files it names, without ingesting anything.",
        discussion: """
            Loads the configuration strictly (unknown keys are errors), resolves the inputs (files \
            per folder; hidden, partial and excluded files passed over), reads only HEADER and TEXT \
            of each FCS file to show which instrument profile, panel and strategy it resolves to, \
            loads the registry, and parses the lab files. Exit 0 when everything resolves, 78 \
            otherwise (configuration errors and files a run would reject are listed, one per line).

            Example: cytoingest check-config --config pipeline.json
            """
    )

    @Option(help: "Configuration file.") var config: String = "pipeline.json"
    @Option(help: "Output format: text, csv (one row per input file) or json.") var format: OutputFormat = .text

    struct Document: Encodable {
        var schemaVersion = 1
        var ok: Bool
        var errors: [String]
        var folders: [String: Int]
        var skipped: [String]
        var strategies: [String]
        var patients: Int
        var fcs: [ConfigurationCheck.FCSFile]
        var labs: [ConfigurationCheck.LabFile]
    }

    func run() throws {
        let cfg: PipelineConfiguration
        do { cfg = try PipelineConfiguration.load(path: config) } catch {
            throw configurationFailure(error, file: config)
        }
        let check = ConfigurationCheck(config: cfg)
        switch format {
        case .json:
            let doc = Document(
                ok: check.ok, errors: check.errors.map { "\($0.path): \($0.message)" }, folders: check.folders,
                skipped: check.skipped.map { "\($0.entry): \($0.message)" }, strategies: check.strategies,
                patients: check.patients,
                fcs: check.fcs, labs: check.labs)
            print(String(decoding: try jsonEncoder().encode(doc), as: UTF8.self))
        case .csv:
            print("kind,file,instrument_or_format,status,results,rejected_records,problem")
            for f in check.fcs {
                print(
                    ["fcs", f.file, f.instrument, f.problem == nil ? "ok" : "problem", "", "", f.problem ?? ""].map(
                        csvField
                    ).joined(separator: ","))
            }
            for l in check.labs {
                print(
                    [
                        "lab", l.file, l.format ?? "", l.status, String(l.results), String(l.rejectedRecords),
                        l.problem ?? "",
                    ].map(csvField).joined(separator: ","))
            }
        case .text:
            print("configuration \(config): \(check.errors.isEmpty ? "loaded" : "\(check.errors.count) error(s)")")
            for (folder, n) in check.folders.sorted(by: { $0.key < $1.key }) {
                print("  input folder \(folder): \(n) file(s)")
            }
            for s in check.skipped { print("  skipped \(s.entry): \(s.message)") }
            print("  strategies: \(check.strategies.joined(separator: "; "))")
            print("  registry: \(check.patients) patient(s)")
            var byInstrument: [String: Int] = [:]
            for f in check.fcs { byInstrument[f.instrument, default: 0] += 1 }
            print(
                "  FCS files: \(check.fcs.count) (\(byInstrument.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")))"
            )
            for f in check.fcs where f.problem != nil { print("  FCS \(f.file) [\(f.instrument)]: \(f.problem!)") }
            for l in check.labs {
                print(
                    "  lab \(l.file): \(l.status)\(l.format.map { " (\($0))" } ?? ""), \(l.results) result(s), \(l.rejectedRecords) rejected record(s)\(l.problem.map { ": \($0)" } ?? "")"
                )
            }
            print(check.ok ? "OK" : "NOT OK")
        }
        for e in check.errors { printError("error[E-CONFIG]: \(config): \(e.path): \(e.message)") }
        if !check.ok { throw exitConfiguration }
    }
}
