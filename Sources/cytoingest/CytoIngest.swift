import ArgumentParser
import CytoModel

@main
struct CytoIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cytoingest",
        abstract: "Flow-cytometry ingestion: FCS files and lab XML to per-patient monthly records.",
        discussion: """
            Exit codes: 0 success; 1 other failure; 64 usage error; 65 finished, but some input \
            was rejected (unreadable file, bad record); 66 no store yet; 73 an output file cannot \
            be written; 75 temporary failure, retry later; 78 configuration error (one line per \
            error, no usage text). Errors go to stderr as error[CODE]: file: reason (docs/codes.md).

            Examples:
              cytoingest run                              # pipeline.json in this folder
              cytoingest records --format csv > records.csv
              cytoingest export --format fhir --output bundle.json
              cytoingest --generate-completion-script bash > /etc/bash_completion.d/cytoingest
            """,
        version: ProgramInfo.version,
        subcommands: [
            RunCommand.self, CheckConfigCommand.self, RecordsCommand.self, SamplesCommand.self, RejectionsCommand.self,
            Inspect.self,
            GateCommand.self, SynthCommand.self, LabsCommand.self, ValidateCommand.self, ReportCommand.self,
            GatesCommand.self, ExportCommand.self, MigrateCommand.self,
        ]
    )
}

/// Output format shared by the subcommands: `text` for people, `csv` for spreadsheets and
/// scripts, `json` for programs. `table` (the records commands' old name of `text`) is still read.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case csv
    case json

    init?(argument: String) {
        if argument == "table" {
            self = .text
        } else {
            self.init(rawValue: argument)
        }
    }
}

/// Exit code for "finished, but some input was rejected" (sysexits EX_DATAERR).
let exitDataError = ExitCode(65)
