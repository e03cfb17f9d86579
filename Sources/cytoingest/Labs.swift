import ArgumentParser
import CytoModel
import Foundation
import Labs
import Pipeline

struct LabsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "labs", abstract: "HIV RNA lab XML (neutral export, FHIR R4, mapped vendor formats).",
        discussion: """
            Examples:
              cytoingest labs check lab-exports/*.xml
            """,
        subcommands: [LabsCheck.self])
}

struct LabsCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Parse lab XML files without storing; print each result or the errors.",
        discussion: """
            Mapping profiles for a lab's own XML: docs/lab-profiles.md. File errors also go to \
            stderr as error[CODE]: file: reason (line N). Exit 0 when every file is accepted, 65 \
            when any file or record is rejected.

            Examples:
              cytoingest labs check lab-exports/*.xml
              cytoingest labs check --config pipeline.json VL-2024-03.xml --format csv
            """
    )

    @Argument(help: "Lab XML files (.xml or .xml.gz).")
    var files: [String]

    @Option(help: "Output format: text, csv (one row per result, rejected or skipped record) or json.")
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
        // Results are formatted as they are parsed (a few hundred bytes each instead of the
        // parsed records), and written when the file's verdict is known: memory stays small and
        // no document is built whole.
        let out = FileHandle.standardOutput
        var anyRejected = false
        if format == .json { out.write(Data("{\n  \"files\" : [".utf8)) }
        if format == .csv { out.write(Data((FormattingSink.csvHeader + "\n").utf8)) }
        for (k, path) in files.enumerated() {
            var sink = FormattingSink(format: format, file: path)
            var report = LabImporter.importFile(path: path, options: options, sink: &sink)
            if report.status == .rejected { sink.clear() }
            report.results = []
            anyRejected = anyRejected || report.status != .accepted
            if let e = report.error {
                reportError(code: e.code.rawValue, file: path, e.message + (e.line.map { " (line \($0))" } ?? ""))
            }
            switch format {
            case .csv:
                sink.write(to: out)
                out.write(Data(FormattingSink.csvTail(report).utf8))
            case .json:
                out.write(Data(((k == 0 ? "\n" : ",\n") + Self.jsonFileHead(report)).utf8))
                sink.write(to: out)
                out.write(Data(Self.jsonFileTail(report, results: sink.count).utf8))
            case .text:
                out.write(Data(Self.textHead(report).utf8))
                sink.write(to: out)
                out.write(Data(Self.textTail(report).utf8))
            }
        }
        if format == .json { out.write(Data("\n  ],\n  \"schemaVersion\" : 1\n}\n".utf8)) }
        if anyRejected { throw exitDataError }
    }

    static func textHead(_ r: LabFileReport) -> String {
        var s = "\(r.file): \(r.status.rawValue)\(r.format.map { " (\($0))" } ?? "")\n"
        if let e = r.error { s += "  error \(e.code): \(e.message)\(e.line.map { " (line \($0))" } ?? "")\n" }
        return s
    }

    static func textTail(_ r: LabFileReport) -> String {
        var s = ""
        for x in r.rejected {
            s += "  rejected \(x.id ?? "?") \(x.code): \(x.message)\(x.line.map { " (line \($0))" } ?? "")\n"
        }
        for x in r.retracted { s += "  retracted \(x) (entered-in-error)\n" }
        for x in r.skipped { s += "  skipped \(x)\n" }
        return s
    }

    /// One result as a text line (and its warnings).
    static func textLine(_ x: HIVRNAResult) -> String {
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
        var s =
            "  \(x.id)  \(x.patient)  \(x.specimen)  \(x.collected.isoDate)  \(value)  [\(x.assay?.name ?? "assay unknown")]\n"
        for w in x.warnings { s += "    warning: \(w)\n" }
        return s
    }

    /// The JSON of one file up to its results array (keys sorted, as the encoder writes them).
    static func jsonFileHead(_ r: LabFileReport) -> String {
        var s = "    {\n"
        if let e = r.error {
            s +=
                "      \"error\" : {\n        \"code\" : \(JSONText.string(e.code.rawValue)),\n        \"line\" : \(e.line.map(String.init) ?? "null"),\n        \"message\" : \(JSONText.string(e.message))\n      },\n"
        }
        s += "      \"file\" : \(JSONText.string(r.file)),\n      \"rejected\" : ["
        for (k, x) in r.rejected.enumerated() {
            s += k == 0 ? "\n" : ",\n"
            s += "        {\n          \"code\" : \(JSONText.string(x.code.rawValue)),\n"
            if let id = x.id { s += "          \"id\" : \(JSONText.string(id)),\n" }
            if let line = x.line { s += "          \"line\" : \(line),\n" }
            s += "          \"message\" : \(JSONText.string(x.message))\n        }"
        }
        s += r.rejected.isEmpty ? "],\n" : "\n      ],\n"
        return s + "      \"results\" : ["
    }

    static func jsonFileTail(_ r: LabFileReport, results: Int) -> String {
        var s = (results == 0 ? "],\n" : "\n      ],\n") + "      \"skipped\" : ["
        for (k, x) in r.skipped.enumerated() {
            s += k == 0 ? "\n" : ",\n"
            s += "        {\n          \"id\" : \(x.id.map(JSONText.string) ?? "null"),\n"
            s += "          \"line\" : \(x.line.map(String.init) ?? "null"),\n"
            s += "          \"reason\" : \(JSONText.string(x.reason))\n        }"
        }
        s += r.skipped.isEmpty ? "],\n" : "\n      ],\n"
        return s + "      \"status\" : \(JSONText.string(r.status.rawValue))\n    }"
    }

}

/// Formats results as they are staged: text lines or JSON objects (id, patient, specimen,
/// collected, outcome, copies, log10, censor, limit, assay; keys sorted), appended to one byte buffer.
struct FormattingSink: LabResultSink {
    let format: OutputFormat
    let file: String
    var bytes: [UInt8] = []
    var count = 0
    /// Formatted results beyond `spillBytes` wait in an unlinked temporary file, so memory does
    /// not grow with the file.
    var spill: FileHandle?
    static let spillBytes = 4 << 20

    init(format: OutputFormat, file: String) {
        self.format = format
        self.file = file
    }

    static let csvHeader =
        "file,record_status,line,id,patient,specimen,collected,outcome,copies,log10,censor,limit,assay,code,reason"

    static func csvRow(_ fields: [String]) -> String { fields.map(csvField).joined(separator: ",") + "\n" }

    /// The file's rejected and skipped records (and a rejected file) as CSV rows.
    static func csvTail(_ r: LabFileReport) -> String {
        var s = ""
        if let e = r.error {
            s += csvRow([
                r.file, "file rejected", e.line.map(String.init) ?? "", "", "", "", "", "", "", "", "", "", "",
                e.code.rawValue, e.message,
            ])
        }
        for x in r.rejected {
            s += csvRow([
                r.file, "rejected", x.line.map(String.init) ?? "", x.id ?? "", "", "", "", "", "", "", "", "", "",
                x.code.rawValue, x.message,
            ])
        }
        for x in r.skipped {
            s += csvRow([
                r.file, "skipped", x.line.map(String.init) ?? "", x.id ?? "", "", "", "", "", "", "", "", "", "", "",
                x.reason,
            ])
        }
        return s
    }

    mutating func flush() {
        guard bytes.count >= Self.spillBytes else { return }
        if spill == nil {
            let path = NSTemporaryDirectory() + "/cytoingest-labs-check-\(UUID().uuidString)"
            if FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
                let h = FileHandle(forUpdatingAtPath: path)
            {
                unlink(path)
                spill = h
            }
        }
        guard let spill else { return }
        spill.write(Data(bytes))
        bytes.removeAll(keepingCapacity: true)
    }

    /// Writes everything formatted so far to `out`.
    func write(to out: FileHandle) {
        if let spill {
            spill.seek(toFileOffset: 0)
            while true {
                let chunk = spill.readData(ofLength: 1 << 20)
                if chunk.isEmpty { break }
                out.write(chunk)
            }
        }
        out.write(Data(bytes))
    }

    mutating func stage(_ x: HIVRNAResult) {
        if format == .csv {
            let fields: [String] = [
                file, "result", String(x.line), x.id, x.patient, x.specimen, x.collected.isoDate, x.outcome.rawValue,
                x.copies.map(formatShort) ?? "", x.log10.map { String(format: "%.3f", $0) } ?? "",
                x.censor?.rawValue ?? "", x.limit.map(formatShort) ?? "", x.assay?.name ?? "", "", "",
            ]
            bytes.append(contentsOf: Self.csvRow(fields).utf8)
        } else if format == .json {
            var s = count == 0 ? "\n" : ",\n"
            s += "        {\n"
            s += "          \"assay\" : \(x.assay.map { JSONText.string($0.name) } ?? "null"),\n"
            s += "          \"censor\" : \(x.censor.map { JSONText.string($0.rawValue) } ?? "null"),\n"
            s += "          \"collected\" : \(JSONText.string(x.collected.text)),\n"
            s += "          \"copies\" : \(JSONText.number(x.copies)),\n"
            s += "          \"id\" : \(JSONText.string(x.id)),\n"
            s += "          \"limit\" : \(JSONText.number(x.limit)),\n"
            s += "          \"log10\" : \(JSONText.number(x.log10)),\n"
            s += "          \"outcome\" : \(JSONText.string(x.outcome.rawValue)),\n"
            s += "          \"patient\" : \(JSONText.string(x.patient)),\n"
            s += "          \"specimen\" : \(JSONText.string(x.specimen))\n        }"
            bytes.append(contentsOf: s.utf8)
        } else {
            bytes.append(contentsOf: LabsCheck.textLine(x).utf8)
        }
        count += 1
        flush()
    }

    mutating func clear() {
        bytes = []
        count = 0
        if let spill {
            spill.truncateFile(atOffset: 0)
        }
    }
}

/// JSON scalars as `JSONEncoder` writes them (strings escaped, slashes not; numbers in the
/// shortest form that reads back equal, integral values without a fraction).
enum JSONText {
    static func string(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            case "\u{08}": o += "\\b"
            case "\u{0C}": o += "\\f"
            default:
                if u.value < 0x20 {
                    o += String(format: "\\u%04x", u.value)
                } else {
                    o.unicodeScalars.append(u)
                }
            }
        }
        return o + "\""
    }

    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return exactDecimal(v)
    }
}
