import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store

func jsonData<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try jsonEncoder(nonFiniteAsStrings: true).encode(value), as: UTF8.self)
}

func cell(_ v: Double?, _ digits: Int = 1) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }

struct RecordsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "records", abstract: "Print the per-patient monthly records.",
        discussion: """
            Columns and rules: docs/records.md. Analysis-ready files for statisticians and lab \
            systems: cytoingest export.

            Examples:
              cytoingest records
              cytoingest records --patient P001 --format json
            """)
    @OptionGroup var store: StoreOptions
    @Option(help: "Only this patient.") var patient: String?
    @Option(help: "text, csv or json.") var format: OutputFormat = .text

    struct Document: Encodable {
        var schemaVersion = 1
        var records: [Entry]
    }

    struct Entry: Encodable {
        var r: MonthlyRecord
        enum K: String, CodingKey {
            case patient, month, targetDate, cd4Abs, cd4Pct, cd8Abs, cd8Pct, cd4cd8Ratio, cd8HladrPct, cd4Cd25Pct,
                hivRnaCopies, hivRnaLog10, hivRnaCensor
            case baseline, responder, qc, sources, stratum, missing, cd4Collected, hivCollected, onInfusionCd4Abs,
                onInfusionHivRnaLog10
            case deltaCd4Abs, deltaLog10, cycle, daysSinceCycleStart, doseMIUPerDay, hivRnaLimit, hivRnaAssay
            case deltaCd4Pct, windowFromDay, windowToDay, onInfusion, candidates
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode(r.patient, forKey: .patient)
            try c.encode(r.month, forKey: .month)
            try c.encode(r.targetDate, forKey: .targetDate)
            try c.encode(r.cd4Abs, forKey: .cd4Abs)
            try c.encode(r.cd4Pct, forKey: .cd4Pct)
            try c.encode(r.cd8Abs, forKey: .cd8Abs)
            try c.encode(r.cd8Pct, forKey: .cd8Pct)
            try c.encode(r.cd4cd8Ratio, forKey: .cd4cd8Ratio)
            try c.encode(r.cd8HladrPct, forKey: .cd8HladrPct)
            try c.encode(r.cd4Cd25Pct, forKey: .cd4Cd25Pct)
            try c.encode(r.hivRnaCopies, forKey: .hivRnaCopies)
            try c.encode(r.hivRnaLog10, forKey: .hivRnaLog10)
            try c.encode(r.hivRnaCensor, forKey: .hivRnaCensor)
            try c.encode(r.baseline, forKey: .baseline)
            try c.encode(r.responder, forKey: .responder)
            try c.encode(r.qc, forKey: .qc)
            try c.encode(r.sources, forKey: .sources)
            try c.encode(r.stratum, forKey: .stratum)
            try c.encode(r.missing, forKey: .missing)
            try c.encode(r.cd4Collected, forKey: .cd4Collected)
            try c.encode(r.hivCollected, forKey: .hivCollected)
            try c.encode(r.onInfusionCd4Abs, forKey: .onInfusionCd4Abs)
            try c.encode(r.onInfusionHivRnaLog10, forKey: .onInfusionHivRnaLog10)
            try c.encode(r.deltaCd4Abs, forKey: .deltaCd4Abs)
            try c.encode(r.deltaLog10, forKey: .deltaLog10)
            try c.encode(r.cycle, forKey: .cycle)
            try c.encode(r.daysSinceCycleStart, forKey: .daysSinceCycleStart)
            try c.encode(r.doseMIUPerDay, forKey: .doseMIUPerDay)
            try c.encode(r.hivRnaLimit, forKey: .hivRnaLimit)
            try c.encode(r.hivRnaAssay, forKey: .hivRnaAssay)
            try c.encode(r.deltaCd4Pct, forKey: .deltaCd4Pct)
            try c.encode(r.windowFromDay, forKey: .windowFromDay)
            try c.encode(r.windowToDay, forKey: .windowToDay)
            try c.encode(r.onInfusion, forKey: .onInfusion)
            try c.encode(r.candidates, forKey: .candidates)
        }
    }

    static let header = [
        "patient", "month", "target", "stratum", "CD4 drawn", "CD4/uL", "dCD4/uL", "CD4%", "CD8/uL", "CD8%",
        "CD4/CD8", "%CD8+DR+", "%CD4+CD25+", "RNA drawn", "RNA copies/mL", "log10", "dlog10", "responder", "qc",
        "why empty",
    ]

    /// HIV RNA as a lab reads it: the value, or the censoring mark with its limit.
    static func rna(_ r: MonthlyRecord) -> String {
        switch r.hivRnaCensor {
        case .lt?: "<\(cell(r.hivRnaLimit, 0))"
        case .gt?: ">\(cell(r.hivRnaLimit, 0))"
        case .nd?: "ND"
        default: cell(r.hivRnaCopies, 0)
        }
    }

    static func signed(_ v: Double?, _ digits: Int) -> String {
        guard let v else { return "" }
        return (v > 0 ? "+" : "") + String(format: "%.\(digits)f", v)
    }

    static func row(_ r: MonthlyRecord) -> [String] {
        [
            r.patient, r.baseline ? "0 (baseline)" : String(r.month), r.targetDate, r.stratum ?? "",
            r.cd4Collected ?? "", cell(r.cd4Abs, 0), signed(r.deltaCd4Abs, 0), cell(r.cd4Pct), cell(r.cd8Abs, 0),
            cell(r.cd8Pct), cell(r.cd4cd8Ratio, 2), cell(r.cd8HladrPct), cell(r.cd4Cd25Pct), r.hivCollected ?? "",
            rna(r), cell(r.hivRnaLog10, 2), signed(r.deltaLog10, 2), r.responder.map { $0 ? "yes" : "no" } ?? "",
            r.qc.map(\.rawValue).joined(separator: ";"), r.missing.joined(separator: "; "),
        ]
    }

    /// What the marks mean (printed under the text table).
    static let legend = """

        RNA copies/mL: <N below the assay's limit N (censor lt; log10 is that of N); >N above the assay's \
        range (gt); ND target not detected (nd, no value). d = change from baseline (month 0). \
        QC flags and codes: docs/codes.md; empty months: docs/records.md.

        """

    static func table(_ records: [MonthlyRecord]) -> String {
        cytoingest.table([header] + records.map(row), indent: "") + legend
    }

    func run() throws {
        let records = try store.openStore().1.records(patient: patient)
        switch format {
        case .json: print(try jsonData(Document(records: records.map(Entry.init))))
        case .csv:
            print(Self.header.map(csvField).joined(separator: ","))
            for r in records { print(Self.row(r).map(csvField).joined(separator: ",")) }
        case .text: print(Self.table(records), terminator: "")
        }
    }
}

struct SamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samples", abstract: "Print the per-file results.",
        discussion: """
            Examples:
              cytoingest samples
              cytoingest samples --format csv > samples.csv
            """)
    @OptionGroup var store: StoreOptions
    @Option(help: "text, csv or json.") var format: OutputFormat = .text

    struct Document: Encodable {
        var schemaVersion = 1
        var samples: [Entry]
    }
    struct Entry: Encodable {
        var file: String
        var sha256: String
        var patient: String
        var collected: String
        var events: Int
        var beadEvents: Int
        var lymphocyteEvents: Int
        @Null var cd4Abs: Double?
        var cd4Pct: Double
        @Null var cd8Abs: Double?
        var cd8Pct: Double
        @Null var cd8HladrPct: Double?
        @Null var cd4Cd25Pct: Double?
        var qc: [QCFlag]
        var status: String
        /// The instrument profile the file was read with.
        var instrument: String
        /// ingested, or missing (the file is gone; its result is kept).
        var fileStatus: String
        /// A newer version of the file that was rejected (its code) while this result stands.
        @Null var rejectedVersion: String?
    }

    func run() throws {
        let store = try self.store.openStore().1
        let samples = try store.samples()
        let rejections = Dictionary(
            try store.rejections().filter { $0.record == nil }.map { ($0.file, $0.code.rawValue) },
            uniquingKeysWith: { a, _ in a })
        let entries = try samples.map {
            let state = try store.fileState($0.file)
            return Entry(
                file: $0.file, sha256: $0.sha256, patient: $0.patient, collected: $0.collected, events: $0.events,
                beadEvents: $0.beadEvents,
                lymphocyteEvents: $0.lymphocyteEvents, cd4Abs: $0.cd4Abs, cd4Pct: $0.cd4Pct, cd8Abs: $0.cd8Abs,
                cd8Pct: $0.cd8Pct,
                cd8HladrPct: $0.cd8HladrPct, cd4Cd25Pct: $0.cd4Cd25Pct, qc: $0.qcFlags,
                status: $0.qcFlags.isEmpty ? "ok" : "flagged", instrument: $0.instrument,
                fileStatus: state?.status.rawValue ?? "ingested",
                rejectedVersion: state?.rejectedSHA256 == nil ? nil : rejections[$0.file])
        }
        let header = [
            "file", "patient", "collected", "events", "beads", "lymphocytes", "CD4/uL", "CD4%", "CD8/uL", "CD8%",
            "%CD8+DR+", "%CD4+CD25+", "qc", "instrument", "file status",
        ]
        let rows = entries.map { e in
            [
                e.file, e.patient, e.collected, String(e.events), String(e.beadEvents), String(e.lymphocyteEvents),
                cell(e.cd4Abs, 0), cell(e.cd4Pct), cell(e.cd8Abs, 0), cell(e.cd8Pct), cell(e.cd8HladrPct),
                cell(e.cd4Cd25Pct), e.qc.map(\.rawValue).joined(separator: ";"), e.instrument,
                e.fileStatus + (e.rejectedVersion.map { "; newer version rejected \($0)" } ?? ""),
            ]
        }
        switch format {
        case .json: print(try jsonData(Document(samples: entries)))
        case .csv:
            print(header.joined(separator: ","))
            for r in rows { print(r.map(csvField).joined(separator: ",")) }
        case .text: print(table([header] + rows, indent: ""), terminator: "")
        }
    }
}

struct RejectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejections", abstract: "Print rejected files and records.",
        discussion: """
            Every code's meaning: docs/codes.md.

            Examples:
              cytoingest rejections
              cytoingest rejections --format json
            """)
    @OptionGroup var store: StoreOptions
    @Option(help: "text, csv or json.") var format: OutputFormat = .text

    struct Document: Encodable {
        var schemaVersion = 1
        var rejections: [Entry]
    }
    struct Entry: Encodable {
        var file: String
        var record: String?
        var code: RejectionCode
        var message: String
    }

    func run() throws {
        let rejections = try store.openStore().1.rejections()
        let header = ["file", "record", "code", "message"]
        let rows = rejections.map { [$0.file, $0.record ?? "", $0.code.rawValue, $0.message] }
        switch format {
        case .json:
            print(
                try jsonData(
                    Document(
                        rejections: rejections.map {
                            Entry(file: $0.file, record: $0.record, code: $0.code, message: $0.message)
                        })))
        case .csv:
            print(header.joined(separator: ","))
            for r in rows { print(r.map(csvField).joined(separator: ",")) }
        case .text: print(table([header] + rows, indent: ""), terminator: "")
        }
    }
}
