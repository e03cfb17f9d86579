import Analysis
import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Review
import Store

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render the gating plots of ingested samples (or of given FCS files) as one HTML file.",
        discussion: """
            Per sample: the values and the panel plots (CD45 vs SSC, CD3 vs CD4, CD8 vs HLA-DR, \
            CD4 vs CD25) with the gates applied. Self-contained: works offline, no script. With no \
            FILE, reports the samples ingested in the store. Exits 65 when a file cannot be read \
            (the others are still reported).

            Examples:
              cytoingest report --output samples.html
              cytoingest report --output one.html fcs/P001_M01.fcs
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var output: String = "report.html"

    @Argument(help: "FCS files (default: the samples ingested in the store).")
    var files: [String] = []

    func run() throws {
        try checkWritable(output)
        let cfg = try store.load().0
        let analyzer = try cfg.makeAnalyzer()
        var paths = files
        if paths.isEmpty {
            // Stored paths are the configuration folder's: resolve them through it.
            paths = try store.openStore().1.ingestedFilePaths().map(cfg.resolve)
        }
        var entries: [(name: String, sample: GatedSample, result: SampleResult?)] = []
        var failed = false
        for path in paths {
            let name = URL(fileURLWithPath: path).lastPathComponent
            do {
                let gated = try GatedSample.load(path: path, analyzer: analyzer, flowJo: nil, displayName: name)
                entries.append((name, gated, try? gated.result?.get()))
            } catch {
                reportError(code: error.code.rawValue, file: name, error.message)
                failed = true
            }
        }
        let html = ReportRenderer(gating: cfg.gating, validation: cfg.validation).samplesPage(entries)
        do { try Data(html.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw runtimeFailure(.output, file: output, error.localizedDescription)
        }
        print("wrote \(output): \(entries.count) samples")
        if failed { throw exitDataError }
    }
}
