import ArgumentParser

@main
struct CytoIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cytoingest",
        abstract: "Flow-cytometry ingestion: FCS files and lab XML to per-patient monthly records.",
        discussion: """
            Exit codes: 0 success; 1 other failure; 64 usage error; 65 finished, but some input \
            was rejected (unreadable file, bad record); 75 temporary failure, retry later; 78 configuration error (one line per error, no usage text).
            """,
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, RecordsCommand.self, SamplesCommand.self, RejectionsCommand.self,
            Inspect.self,
            GateCommand.self, SynthCommand.self, LabsCommand.self, ValidateCommand.self, ReportCommand.self,
            GatesCommand.self,
        ]
    )
}

/// Output format shared by the subcommands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Exit code for "finished, but some input was rejected" (sysexits EX_DATAERR).
let exitDataError = ExitCode(65)
