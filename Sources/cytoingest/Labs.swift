import ArgumentParser
import CytoModel
import Foundation
import Labs
import Pipeline

struct LabsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labs", abstract: "HIV RNA lab XML (neutral export, FHIR R4, mapped vendor formats).",
        subcommands: [LabsCheck.self])
}

struct LabsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Parse lab XML files without storing; print each result or the errors.",
        discussion: "Exit 0 when every file is accepted, 65 when any file or record is rejected."
    )

    @Argument(help: "Lab XML files (.xml or .xml.gz).")
    var files: [String]

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(help: "Configuration giving mapping profiles (labs.profiles) and the FHIR patient identifier system.")
    var config: String?

    @Option(name: .customLong("patient-system"), help: "FHIR Patient.identifier system holding the study subject id.")
    var patientSystem: String?

    func run() throws {
        var options = LabImportOptions()
        options.profiles = [MappingProfile.vendorGenericLIS]
        if let config {
            do { options = try PipelineConfiguration.load(path: config).labImportOptions() } catch {
                throw configurationFailure(error, file: config)
            }
        }
        if let patientSystem { options.patientIdentifierSystem = patientSystem }
        let reports = files.map { LabImporter.check(path: $0, options: options) }
        switch format {
        case .json:
            let doc = LabsDocument(files: reports.map(LabsDocument.File.init))
            print(String(decoding: try jsonEncoder().encode(doc), as: UTF8.self))
        case .text:
            for r in reports { print(Self.text(r), terminator: "") }
        }
        if reports.contains(where: { $0.status != .accepted }) { throw exitDataError }
    }

    static func text(_ r: LabFileReport) -> String {
        var s = "\(r.file): \(r.status.rawValue)\(r.format.map { " (\($0))" } ?? "")\n"
        if let e = r.error { s += "  error \(e.code): \(e.message)\(e.line.map { " (line \($0))" } ?? "")\n" }
        for x in r.results {
            let value: String
            switch x.outcome {
            case .quantified:
                value =
                    x.copies.map { "\(formatShort($0)) copies/mL (log10 \(String(format: "%.2f", log10($0))))" }
                    ?? "\(x.reportedValue.map(formatShort) ?? "?") \(x.reportedUnit?.rawValue ?? "") (not converted)"
            case .belowLimit: value = "< \(x.limit.map(formatShort) ?? "?") copies/mL"
            case .aboveLimit: value = "> \(x.limit.map(formatShort) ?? "?") copies/mL"
            case .notDetected: value = "not detected (limit \(x.limit.map(formatShort) ?? "unknown"))"
            case .failed: value = "failed \(x.failureCode ?? "")"
            case .notPerformed: value = "not performed"
            }
            s +=
                "  \(x.id)  \(x.patient)  \(x.specimen)  \(x.collected.isoDate)  \(value)  [\(x.assay?.name ?? "assay unknown")]\n"
            for w in x.warnings { s += "    warning: \(w)\n" }
        }
        for x in r.rejected {
            s += "  rejected \(x.id ?? "?") \(x.code): \(x.message)\(x.line.map { " (line \($0))" } ?? "")\n"
        }
        for x in r.retracted { s += "  retracted \(x) (entered-in-error)\n" }
        for x in r.skipped { s += "  skipped \(x)\n" }
        return s
    }
}

/// `labs check --format json`.
struct LabsDocument: Encodable {
    var schemaVersion = 1
    var files: [File]

    struct File: Encodable {
        var file: String
        var status: String
        var error: ErrorInfo?
        var results: [Result]
        var rejected: [Rejected]

        init(_ r: LabFileReport) {
            file = r.file
            status = r.status.rawValue
            error = r.error.map { ErrorInfo(code: $0.code.rawValue, message: $0.message, line: $0.line) }
            results = r.results.map(Result.init)
            rejected = r.rejected.map { Rejected(id: $0.id, code: $0.code.rawValue, message: $0.message) }
        }
    }
    struct ErrorInfo: Encodable {
        var code: String
        var message: String
        @Null var line: Int?
    }
    struct Rejected: Encodable {
        var id: String?
        var code: String
        var message: String
    }
    struct Result: Encodable {
        var id: String
        var patient: String
        var specimen: String
        var collected: String
        var outcome: String
        @Null var copies: Double?
        @Null var log10: Double?
        @Null var censor: String?
        @Null var limit: Double?
        @Null var assay: String?

        init(_ r: HIVRNAResult) {
            id = r.id
            patient = r.patient
            specimen = r.specimen
            collected = r.collected.text
            outcome = r.outcome.rawValue
            copies = r.copies
            log10 = r.log10
            censor = r.censor?.rawValue
            limit = r.limit
            assay = r.assay?.name
        }
    }
}
