import ArgumentParser
import Foundation
import Pipeline
import Store

struct GatesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gates",
        abstract: "Export the gates applied to an ingested file as Gating-ML 2.0.",
        discussion: """
            Adaptive gating stores, per file, the gates it found (raw thresholds, compensation \
            from the file's spillover). The export replays with `cytoingest gate FILE \
            --gating-ml OUT.xml` to the stored counts, and the validation report draws it. For \
            a file gated by the template, the template strategy is printed. Exits 65 when the \
            file is not in the store.

            Examples:
              cytoingest gates P001_M01.fcs.gz
              cytoingest gates P001_M01.fcs.gz --output P001_M01.gates.xml
            """
    )

    @OptionGroup var store: StoreOptions

    @Argument(help: "The FCS file as ingested (its path, or a unique file name).")
    var file: String

    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.")
    var output: String?

    func run() throws {
        let (cfg, s) = try store.openStore()
        let paths = try s.ingestedFilePaths()
        let matches = paths.filter {
            $0 == file || URL(fileURLWithPath: $0).lastPathComponent == URL(fileURLWithPath: file).lastPathComponent
        }
        guard matches.count == 1, let path = matches.first else {
            throw runtimeFailure(
                .notIngested, file: file,
                matches.isEmpty
                    ? "no ingested file has this name (cytoingest samples lists them)"
                    : "\(matches.count) ingested files have this name; give the path")
        }
        let xml: String
        if let stored = try s.appliedGates(file: path) {
            xml = stored
        } else {
            xml = try String(contentsOfFile: cfg.resolve(cfg.gating.strategy), encoding: .utf8)
        }
        if let output {
            try Data(xml.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } else {
            print(xml, terminator: "")
        }
    }
}
