import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store

enum TableFormat: String, ExpressibleByArgument { case table, csv, json }

func jsonData<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try jsonEncoder(nonFiniteAsStrings: true).encode(value), as: UTF8.self)
}

func cell(_ v: Double?, _ digits: Int = 1) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }

struct RecordsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "records", abstract: "Print the per-patient monthly records.")
    @OptionGroup var store: StoreOptions
    @Option(help: "Only this patient.") var patient: String?
    @Option(help: "table, csv or json.") var format: TableFormat = .table

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
        }
    }

    static let header = [
        "patient", "month", "target", "CD4/uL", "CD4%", "CD8/uL", "CD8%", "CD4/CD8", "%CD8+DR+", "%CD4+CD25+",
        "RNA copies/mL", "log10", "censor", "responder", "qc",
    ]

    static func row(_ r: MonthlyRecord) -> [String] {
        [
            r.patient, String(r.month), r.targetDate, cell(r.cd4Abs, 0), cell(r.cd4Pct), cell(r.cd8Abs, 0),
            cell(r.cd8Pct), cell(r.cd4cd8Ratio, 2),
            cell(r.cd8HladrPct), cell(r.cd4Cd25Pct),
            r.hivRnaCensor == .lt
                ? "<\(cell(r.hivRnaLimit, 0))" : (r.hivRnaCensor == .nd ? "not detected" : cell(r.hivRnaCopies, 0)),
            cell(r.hivRnaLog10, 2), r.hivRnaCensor?.rawValue ?? "", r.responder.map { $0 ? "yes" : "no" } ?? "",
            r.qc.map(\.rawValue).joined(separator: ";"),
        ]
    }

    static func table(_ records: [MonthlyRecord]) -> String {
        cytoingest.table([header] + records.map(row), indent: "")
    }

    func run() throws {
        let records = try store.openStore().1.records(patient: patient)
        switch format {
        case .json: print(try jsonData(Document(records: records.map(Entry.init))))
        case .csv:
            print(Self.header.joined(separator: ","))
            for r in records { print(Self.row(r).map(csvField).joined(separator: ",")) }
        case .table: print(Self.table(records), terminator: "")
        }
    }
}

struct SamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "samples", abstract: "Print the per-file results.")
    @OptionGroup var store: StoreOptions
    @Option(help: "table, csv or json.") var format: TableFormat = .table

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
        case .table: print(table([header] + rows, indent: ""), terminator: "")
        }
    }
}

struct RejectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rejections", abstract: "Print rejected files and records.")
    @OptionGroup var store: StoreOptions
    @Option(help: "table, csv or json.") var format: TableFormat = .table

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
        case .table: print(table([header] + rows, indent: ""), terminator: "")
        }
    }
}
