import ArgumentParser
import CytoModel
import FCSParser
import Foundation
import Pipeline

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise FCS files: version, data sets, events, parameters, spillover, warnings.",
        discussion: """
            With no FILE, inspects the FCS inputs (files or folders) listed under inputs.fcs in the \
            configuration. Errors go to stderr as error[CODE]: file: reason (byte N); exits 65 when \
            any file cannot be read; the other files are still reported.

            Examples:
              cytoingest inspect sample.fcs
              cytoingest inspect --keywords --config pipeline.json fcs/
              cytoingest inspect --format csv --stats *.fcs > inventory.csv
            """
    )

    @Argument(help: "FCS files (.fcs, .lmd, .fcs.gz, any name).")
    var files: [String] = []

    @Option(help: "Configuration whose inputs.fcs lists files or folders to inspect when no FILE is given.")
    var config: String = "pipeline.json"

    @Option(help: "Output format: text, csv (one row per data set) or json.")
    var format: OutputFormat = .text

    @Flag(help: "Add per-parameter min/max/sum of stored values and the first/last 3 events.")
    var stats = false

    @Flag(
        help:
            "Show the keywords the configuration reads (patient, date, time, bead and volume keywords, $CYT), with each file's values or 'missing'."
    )
    var keywords = false

    @Option(help: "Trust these DATA offsets when HEADER and TEXT disagree: automatic, header or text.")
    var offsets: String = "automatic"

    @Flag(help: "Read the complete events of truncated files instead of rejecting them.")
    var allowTruncated = false

    func validate() throws {
        guard FCSReader.Options.DataOffsets(rawValue: offsets) != nil else {
            throw ValidationError("--offsets must be automatic, header or text")
        }
    }

    func run() throws {
        var options = FCSReader.Options()
        options.dataOffsets = FCSReader.Options.DataOffsets(rawValue: offsets)!
        options.allowTruncatedData = allowTruncated
        let paths = files.isEmpty ? try Self.configuredInputs(config) : files
        let needed = keywords ? try Self.neededKeywords(config) : []
        var reports = paths.map { InspectReport.make(path: $0, options: options, stats: stats) }
        if keywords {
            for i in reports.indices {
                reports[i].configured = needed.map { setting, key in
                    InspectReport.Configured(
                        setting: setting, keyword: key,
                        value: reports[i].datasets.first.flatMap { ds in
                            ds.keywords.first { $0.key.uppercased() == key.uppercased() }?.value
                        })
                }
            }
        }
        for r in reports {
            if let e = r.error {
                reportError(
                    code: "FCS-\(e.code)", file: r.file,
                    e.message + (e.offset.map { " (byte \($0))" } ?? "") + (Self.hint(e.code).map { "; \($0)" } ?? ""))
            }
        }
        switch format {
        case .json:
            let doc = InspectDocument(files: reports)
            print(String(decoding: try InspectReport.encoder.encode(doc), as: UTF8.self))
        case .csv:
            var header = [
                "file", "data_set", "version", "events", "parameters", "datatype", "byteord", "spillover", "warnings",
                "error_code", "error_byte",
            ]
            header += needed.map { "\($0.setting)=\($0.keyword)" }
            print(header.map(csvField).joined(separator: ","))
            for r in reports {
                let sets: [(Int, InspectReport.DataSet?)] =
                    r.datasets.isEmpty ? [(0, nil)] : r.datasets.enumerated().map { ($0.offset + 1, $0.element) }
                for (n, ds) in sets {
                    var row: [String] = [r.file, ds == nil ? "" : String(n), r.version ?? ""]
                    if let ds {
                        row += [
                            String(ds.events), String(ds.parameters.count), ds.datatype, ds.byteord ?? "",
                            ds.spillover ?? "", String(ds.warnings.count),
                        ]
                    } else {
                        row += ["", "", "", "", "", ""]
                    }
                    row += [r.error?.code ?? "", r.error?.offset.map { String($0) } ?? ""]
                    row += (r.configured ?? []).map { $0.value ?? "" }
                    print(row.map(csvField).joined(separator: ","))
                }
            }
        case .text:
            for r in reports where r.error == nil { print(r.humanText(), terminator: "") }
        }
        if reports.contains(where: { $0.error != nil }) { throw exitDataError }
    }
}

extension Inspect {
    /// What a reader's warning or error code means for this command's flags.
    static func hint(_ code: String) -> String? {
        switch code {
        case FCSWarning.Code.dataOffsetsDisagree.rawValue:
            "choose with --offsets header or --offsets text"
        case FCSError.Code.truncatedData.rawValue: "read the complete events with --allow-truncated"
        default: nil
        }
    }

    /// The keywords a configuration reads from every file: (setting, keyword).
    static func neededKeywords(_ configPath: String) throws -> [(setting: String, keyword: String)] {
        let config: PipelineConfiguration
        do { config = try PipelineConfiguration.load(path: configPath) } catch {
            throw configurationFailure(error, file: configPath)
        }
        var out: [(String, String)] = []
        if let k = config.identity.patientKeyword { out.append(("identity.patientKeyword", k)) }
        out.append(("identity.dateKeyword", config.identity.dateKeyword))
        if let k = config.identity.timeKeyword { out.append(("identity.timeKeyword", k)) }
        if config.counting.method == .beads {
            if let k = config.counting.beadsPerTubeKeyword { out.append(("counting.beadsPerTubeKeyword", k)) }
            if let k = config.counting.beadLotKeyword { out.append(("counting.beadLotKeyword", k)) }
        }
        if let k = config.counting.bloodVolumeKeyword { out.append(("counting.bloodVolumeKeyword", k)) }
        if !config.gating.instruments.isEmpty {
            out.append(("gating.instruments[].cyt", "$CYT"))
            out.append(("gating.instruments[].cytsn", "$CYTSN"))
        }
        return out
    }

    /// The files named by `inputs.fcs` in a configuration: files as given, folders expanded to
    /// their `.fcs`, `.lmd` and `.gz` files (sorted). Relative paths are taken from the
    /// configuration's folder.
    static func configuredInputs(_ configPath: String) throws -> [String] {
        let config: PipelineConfiguration
        do { config = try PipelineConfiguration.load(path: configPath) } catch {
            throw configurationFailure(error, file: configPath)
        }
        let listing = config.fcsListing()
        let problems = listing.configurationErrors(setting: "$.inputs.fcs")
        if !problems.isEmpty { throw configurationFailure(ConfigurationProblems(errors: problems), file: configPath) }
        return listing.files
    }
}

struct InspectDocument: Codable {
    var schemaVersion = 1
    var files: [InspectReport]
}

struct InspectReport: Codable, Equatable {
    struct ErrorInfo: Codable, Equatable {
        var code: String
        var message: String
        var offset: Int64?
    }
    struct Stats: Codable, Equatable {
        var min: Double
        var max: Double
        var sum: Double
    }
    struct Parameter: Codable, Equatable {
        var name: String
        /// `label`, `bits` and `range` are always present (null when the file has none), so the
        /// document's shape does not depend on the file; `stats` only with --stats.
        @Null var label: String?
        @Null var bits: Int?
        @Null var range: Double?
        var stats: Stats?
    }
    struct DataSet: Codable, Equatable {
        var events: Int
        var datatype: String
        var byteord: String?
        var spillover: String?
        var keywords: [String: String]
        var parameters: [Parameter]
        var head: [[Double]]?
        var tail: [[Double]]?
        var warnings: [FCSWarning]
    }
    /// A keyword the configuration reads, and this file's value (first data set).
    struct Configured: Codable, Equatable {
        var setting: String
        var keyword: String
        @Null var value: String?
    }
    var file: String
    var version: String?
    var error: ErrorInfo?
    var datasets: [DataSet]
    /// With --keywords.
    var configured: [Configured]?

    static var encoder: JSONEncoder { jsonEncoder(nonFiniteAsStrings: true) }

    static func make(path: String, options: FCSReader.Options, stats: Bool) -> InspectReport {
        var report = InspectReport(file: path, version: nil, error: nil, datasets: [])
        do {
            let reader = try FCSReader(path: path, options: options)
            report.version = reader.dataSets.first?.version.rawValue
            for set in reader.dataSets {
                var ds = DataSet(
                    events: set.eventCount, datatype: set.dataType.rawValue, byteord: set.byteOrder?.keywordValue,
                    spillover: nil,
                    keywords: Dictionary(set.text.keywords.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
                    parameters: set.parameters.map {
                        Parameter(name: $0.name, label: $0.label, bits: $0.bits, range: $0.range)
                    },
                    warnings: set.warnings)
                do {
                    if let s = try set.spillover() {
                        ds.spillover = "\(s.keyword) \(s.channels.count)x\(s.channels.count)"
                        for note in s.notes { ds.warnings.append(FCSWarning(.spilloverNote, note, keyword: s.keyword)) }
                    }
                } catch {
                    ds.warnings.append(FCSWarning(.badSpillover, error.message, keyword: error.keyword))
                }
                if stats {
                    try addStats(&ds, reader: reader, set: set)
                }
                report.datasets.append(ds)
            }
        } catch {
            report.error = ErrorInfo(code: error.code.rawValue, message: error.message, offset: error.byteOffset)
        }
        return report
    }

    /// Minimum, maximum and sum of a column, over eight independent lanes so the loop
    /// vectorises (the sum's rounding differs from a serial sum by at most a few ulps; NaN
    /// values are skipped by min and max as before and propagate into the sum).
    static func columnStats(_ column: ArraySlice<Double>) -> (Double, Double, Double) {
        var lo = SIMD8<Double>(repeating: .infinity)
        var hi = SIMD8<Double>(repeating: -.infinity)
        var sum = SIMD8<Double>(repeating: 0)
        var i = column.startIndex
        let end = column.endIndex
        while i + 8 <= end {
            let v = SIMD8<Double>(column[i..<(i + 8)])
            lo = lo.replacing(with: v, where: v .< lo)
            hi = hi.replacing(with: v, where: v .> hi)
            sum += v
            i += 8
        }
        var l = lo.min(), h = hi.max(), s = sum.sum()
        while i < end {
            let v = column[i]
            if v < l { l = v }
            if v > h { h = v }
            s += v
            i += 1
        }
        return (l, h, s)
    }

    private static func addStats(_ ds: inout DataSet, reader: FCSReader, set: FCSDataSet) throws(FCSError) {
        let p = set.parameters.count
        var mins = [Double](repeating: .infinity, count: p)
        var maxs = [Double](repeating: -.infinity, count: p)
        var sums = [Double](repeating: 0, count: p)
        var head: [[Double]] = []
        var tail: [[Double]] = []
        var blocks = try reader.events(dataSet: set.index)
        while let block = try blocks.next() {
            for c in 0..<p {
                let (lo, hi, s) = Self.columnStats(block.column(c))
                mins[c] = Swift.min(mins[c], lo)
                maxs[c] = Swift.max(maxs[c], hi)
                sums[c] += s
            }
            var i = 0
            while head.count < 3 && i < block.count {
                head.append(block.event(i))
                i += 1
            }
            for j in Swift.max(0, block.count - 3)..<block.count {
                tail.append(block.event(j))
                if tail.count > 3 { tail.removeFirst() }
            }
        }
        for c in 0..<p where set.eventCount > 0 {
            ds.parameters[c].stats = Stats(min: mins[c], max: maxs[c], sum: sums[c])
        }
        ds.head = head
        ds.tail = tail
    }

    func humanText() -> String {
        var out = "\(file)\n"
        if let error {
            out += "  error: \(error.message)\n"
            return out
        }
        out += "  version \(version ?? "?"), \(datasets.count) data set\(datasets.count == 1 ? "" : "s")\n"
        for (i, ds) in datasets.enumerated() {
            out +=
                "  data set \(i + 1): \(ds.events) events, \(ds.parameters.count) parameters, $DATATYPE \(ds.datatype)"
            if let b = ds.byteord { out += ", $BYTEORD \(b)" }
            out += "\n"
            let rows = ds.parameters.enumerated().map { (n, p) -> [String] in
                var r = [
                    "\(n + 1)", p.name, p.label ?? "", p.bits.map(String.init) ?? "*",
                    p.range.map { formatShort($0) } ?? "",
                ]
                if let s = p.stats { r += [formatShort(s.min), formatShort(s.max), formatShort(s.sum)] }
                return r
            }
            var header = ["#", "$PnN", "$PnS", "bits", "range"]
            if ds.parameters.first?.stats != nil { header += ["min", "max", "sum"] }
            out += table([header] + rows, indent: "    ")
            out += "    spillover: \(ds.spillover ?? "none")\n"
            for w in ds.warnings {
                out += "    warning: \(w.description)\(Inspect.hint(w.code.rawValue).map { "; \($0)" } ?? "")\n"
            }
        }
        if let configured {
            let rows = configured.map { [$0.setting, $0.keyword, $0.value ?? "MISSING"] }
            out +=
                "  keywords the configuration reads:\n"
                + table([["setting", "keyword", "value"]] + rows, indent: "    ")
        }
        return out
    }
}

func table(_ rows: [[String]], indent: String) -> String {
    guard let first = rows.first else { return "" }
    var widths = [Int](repeating: 0, count: first.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    return rows.map { r in
        indent
            + r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
            .trimmingCharacters(in: .whitespaces)
    }.joined(separator: "\n") + "\n"
}
