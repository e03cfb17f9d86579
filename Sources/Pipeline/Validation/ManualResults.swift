import Foundation

/// The pipeline populations a manual result can name (keys of `gating.gates`), with the parent
/// their percentage is of (domain.md section 6).
public enum PanelPopulation: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case beads, lymphocytes, cd3, cd4, cd8, cd8Hladr, cd4Cd25

    /// The population whose count is the denominator of this one's percentage.
    public var parent: PanelPopulation? {
        switch self {
        case .beads, .lymphocytes: nil
        case .cd3, .cd4, .cd8: .lymphocytes
        case .cd8Hladr: .cd8
        case .cd4Cd25: .cd4
        }
    }

    /// Populations that have an absolute count (cells/uL) in the pipeline.
    public var hasAbsolute: Bool { self == .cd4 || self == .cd8 }

    public var label: String {
        switch self {
        case .beads: "Beads"
        case .lymphocytes: "Lymphocytes"
        case .cd3: "CD3+ (% lymphocytes)"
        case .cd4: "CD4+ T (% lymphocytes)"
        case .cd8: "CD8+ T (% lymphocytes)"
        case .cd8Hladr: "HLA-DR+ (% CD8 T)"
        case .cd4Cd25: "CD25+ (% CD4 T)"
        }
    }

    /// Accepts the key, its label's usual spellings (`CD4+`, `CD8+HLA-DR+`, `CD4/CD25+`, ...).
    public init?(name: String) {
        let k = name.lowercased().filter { $0.isLetter || $0.isNumber }
        switch k {
        case "beads", "bead", "countingbeads": self = .beads
        case "lymphocytes", "lymphocyte", "lymphs", "lymph": self = .lymphocytes
        case "cd3", "cd3t", "tcells": self = .cd3
        case "cd4", "cd4t", "cd3cd4": self = .cd4
        case "cd8", "cd8t", "cd3cd8": self = .cd8
        case "cd8hladr", "cd8thladr", "hladrcd8", "hladr": self = .cd8Hladr
        case "cd4cd25", "cd4tcd25", "cd25cd4", "cd25": self = .cd4Cd25
        default: return nil
        }
    }

    public static func < (a: PanelPopulation, b: PanelPopulation) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One manual result: a sample's population as counted by a person.
public struct ManualResult: Sendable, Hashable, Codable {
    /// The sample: its FCS file name (with or without `.fcs`/`.gz`).
    public var sample: String
    public var population: PanelPopulation
    /// Events in the population.
    public var count: Int?
    /// Percent of the parent population.
    public var percent: Double?
    /// Cells/uL.
    public var absolute: Double?
}

/// A manual-results file that cannot be used: the line and what is wrong (never its values).
public struct ManualResultsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: String
    public var file: String
    public var line: Int?
    public var message: String
    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message) [\(code)]" }
}

/// Reads the manual-results CSV of labs that record manual gating on worksheets:
/// `sample` (or `file`), `population`, and at least one of `count`, `percent`, `absolute`.
public enum ManualResultsCSV {
    public static let maxBytes = 16 << 20

    public static func read(path: String) throws(ManualResultsError) -> [ManualResult] {
        let attrs = try? FileManager.default.attributesOfItem(atPath: path)
        guard let size = (attrs?[.size] as? NSNumber)?.intValue else {
            throw ManualResultsError(code: "E-MANUAL-IO", file: path, line: nil, message: "cannot read the file")
        }
        guard size <= maxBytes else {
            throw ManualResultsError(code: "E-MANUAL-TOO-LARGE", file: path, line: nil, message: "the file is \(size) bytes, more than \(maxBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManualResultsError(code: "E-MANUAL-IO", file: path, line: nil, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ManualResultsError(code: "E-MANUAL-ENCODING", file: path, line: nil, message: "the file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ManualResultsError) -> [ManualResult] {
        func fail(_ code: String, _ line: Int?, _ message: String) -> ManualResultsError {
            ManualResultsError(code: code, file: file, line: line, message: message)
        }
        let rows = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .filter { !$0.element.trimmed.isEmpty && !$0.element.hasPrefix("#") }
        guard let headerRow = rows.first else { throw fail("E-MANUAL-EMPTY", nil, "the file has no header") }
        let header = try fields(String(headerRow.element), line: headerRow.offset + 1, file: file).map { $0.lowercased().trimmed }
        func col(_ names: String...) -> Int? { header.firstIndex { names.contains($0) } }
        guard let sampleCol = col("sample", "file", "fcs", "filename"), let popCol = col("population", "gate") else {
            throw fail("E-MANUAL-HEADER", headerRow.offset + 1, "the header needs sample (or file) and population columns")
        }
        let countCol = col("count", "events"), pctCol = col("percent", "pct", "%", "percent_parent"), absCol = col("absolute", "cells_per_ul", "abs")
        guard countCol != nil || pctCol != nil || absCol != nil else {
            throw fail("E-MANUAL-HEADER", headerRow.offset + 1, "the header needs at least one of count, percent, absolute")
        }
        var out: [ManualResult] = []
        var seen = Set<String>()
        for (offset, raw) in rows.dropFirst() {
            let line = offset + 1
            let f = try fields(String(raw), line: line, file: file)
            func value(_ i: Int?) -> String? { i.flatMap { $0 < f.count ? f[$0].trimmed : nil }.flatMap { $0.isEmpty ? nil : $0 } }
            guard let sample = value(sampleCol) else { throw fail("E-MANUAL-ROW", line, "no sample") }
            guard let popName = value(popCol) else { throw fail("E-MANUAL-ROW", line, "no population") }
            guard let population = PanelPopulation(name: popName) else {
                throw fail("E-MANUAL-POPULATION", line, "unknown population (use one of \(PanelPopulation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var result = ManualResult(sample: sample, population: population)
            if let s = value(countCol) {
                guard let v = Int(s), v >= 0 else { throw fail("E-MANUAL-VALUE", line, "count is not a non-negative integer") }
                result.count = v
            }
            if let s = value(pctCol) {
                guard let v = Double(s.hasSuffix("%") ? String(s.dropLast()) : s), v.isFinite, v >= 0, v <= 100 else {
                    throw fail("E-MANUAL-VALUE", line, "percent is not a number from 0 to 100")
                }
                result.percent = v
            }
            if let s = value(absCol) {
                guard let v = Double(s), v.isFinite, v >= 0 else { throw fail("E-MANUAL-VALUE", line, "absolute is not a non-negative number") }
                result.absolute = v
            }
            guard result.count != nil || result.percent != nil || result.absolute != nil else {
                throw fail("E-MANUAL-ROW", line, "no count, percent or absolute value")
            }
            guard seen.insert(ManualSamples.key(sample) + "|" + population.rawValue).inserted else {
                throw fail("E-MANUAL-DUPLICATE", line, "the sample's \(population.rawValue) appears twice")
            }
            out.append(result)
        }
        guard !out.isEmpty else { throw fail("E-MANUAL-EMPTY", nil, "the file has no results") }
        return out
    }

    /// One CSV record (RFC 4180 quotes; no embedded newlines).
    static func fields(_ line: String, line number: Int, file: String) throws(ManualResultsError) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var it = Array(line).makeIterator()
        var atStart = true
        while let c = it.next() {
            if quoted {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" {
                            field.append("\"")
                        } else if n == "," {
                            quoted = false
                            out.append(field)
                            field = ""
                            atStart = true
                        } else {
                            throw ManualResultsError(code: "E-MANUAL-CSV", file: file, line: number, message: "text after a closing quote")
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
                continue
            }
            if c == "\"" && atStart {
                quoted = true
                atStart = false
            } else if c == "," {
                out.append(field)
                field = ""
                atStart = true
            } else {
                field.append(c)
                atStart = false
            }
        }
        if quoted { throw ManualResultsError(code: "E-MANUAL-CSV", file: file, line: number, message: "unterminated quote") }
        out.append(field)
        return out
    }
}

/// Matching of manual sample names to FCS files.
public enum ManualSamples {
    /// The comparable key of a sample or file name: the last path component without
    /// `.gz`, `.fcs`, `.lmd`, case-folded.
    public static func key(_ name: String) -> String {
        var s = Substring(name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? Substring(name)).lowercased()
        for ext in [".gz", ".fcs", ".lmd"] where s.hasSuffix(ext) { s = String(s.dropLast(ext.count)) }
        return s
    }
}
