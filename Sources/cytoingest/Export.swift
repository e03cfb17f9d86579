import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store

enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case csv, fhir }

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the monthly records: analysis-ready CSV, or a FHIR R4 Bundle of Observations.",
        discussion: """
            csv: one row per patient-month, snake_case headers, numbers only where a number \\
            belongs, HIV RNA censoring in its own column with the limit, source file hashes. \\
            fhir: a Bundle (type collection) of Observations with LOINC codes and UCUM units, \\
            patients referenced by labs.patientIdentifierSystem. Data dictionary and codes: \\
            docs/export.md. The file is written whole or not at all.

            Examples:
              cytoingest export --format csv --output records.csv
              cytoingest export --format fhir --output bundle.json
              cytoingest export --format csv --patient P001
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: "csv or fhir.") var format: ExportFormat = .csv
    @Option(name: .shortAndLong, help: "Write here (default: standard output).") var output: String?
    @Option(help: "Only this patient.") var patient: String?

    func run() throws {
        if let output { try checkWritable(output) }
        let (cfg, s) = try store.openStore()
        let records = try s.records(patient: patient)
        var labFiles: [String: String] = [:]
        var fileHash: [String: String] = [:]
        for path in try s.labFilePaths() { fileHash[path] = try s.labFileState(path)?.sha256 }
        for r in try patient.map({ try s.labResults(patient: $0) }) ?? s.labResults() {
            labFiles[r.result.id] = fileHash[r.sourceFile]
        }
        let samples = Dictionary(try s.samples().map { ($0.file, $0) }, uniquingKeysWith: { a, _ in a })
        let export = RecordExport(
            records: records, provenance: RecordExport.Provenance(samples: samples, labFileSHA256: labFiles))
        let data: Data
        switch format {
        case .csv: data = Data(export.csv().utf8)
        case .fhir:
            guard let system = cfg.labs.patientIdentifierSystem, !system.isEmpty else {
                throw configurationFailure(
                    ConfigurationError(
                        path: "$.labs.patientIdentifierSystem",
                        message:
                            "is required for a FHIR export: the identifier system of the study subject ids (e.g. urn:oid:... or https://your-study/subject-id)"
                    ), file: store.config)
            }
            data = try export.fhir(patientSystem: system)
        }
        if let output {
            // Patient data: readable by its owner only, and whole or not at all (a private
            // temporary file renamed into place).
            let tmp = output + ".tmp-\(getpid())"
            guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]),
                rename(tmp, output) == 0
            else {
                unlink(tmp)
                throw runtimeFailure(.output, file: output, String(cString: strerror(errno)))
            }
            printError("wrote \(output): \(records.count) monthly record(s)")
        } else {
            FileHandle.standardOutput.write(data)
            if format == .fhir { FileHandle.standardOutput.write(Data("\n".utf8)) }
        }
    }
}
