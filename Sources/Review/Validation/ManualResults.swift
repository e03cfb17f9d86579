import CytoModel
import Foundation

/// One manual result: a sample's population as counted by a person.
public struct ManualResult: Sendable, Hashable, Codable {
    /// The sample: its FCS file name (with or without `.fcs`/`.gz`).
    public var sample: String
    public var population: Population
    /// Events in the population.
    public var count: Int?
    /// Percent of the parent population.
    public var percent: Double?
    /// Cells/uL.
    public var absolute: Double?
}

/// A manual-results file that cannot be used: the line and what is wrong (never its values).
public struct ManualResultsError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: RejectionCode
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
            throw ManualResultsError(code: .manualIO, file: path, line: nil, message: "cannot read the file")
        }
        guard size <= maxBytes else {
            throw ManualResultsError(
                code: .manualTooLarge, file: path, line: nil,
                message: "the file is \(size) bytes, more than \(maxBytes)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManualResultsError(code: .manualIO, file: path, line: nil, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ManualResultsError(
                code: .manualEncoding, file: path, line: nil, message: "the file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ManualResultsError) -> [ManualResult] {
        func fail(_ code: RejectionCode, _ line: Int?, _ message: String) -> ManualResultsError {
            ManualResultsError(code: code, file: file, line: line, message: message)
        }
        let table: CSVTable
        do { table = try CSVTable(text: text) } catch {
            throw error.line == nil
                ? fail(.manualEmpty, nil, "the file has no header") : fail(.manualCSV, error.line, error.message)
        }
        let sampleCol = table.column("sample", "file", "fcs", "filename"), popCol = table.column("population", "gate")
        guard sampleCol != nil, popCol != nil else {
            throw fail(.manualHeader, table.headerLine, "the header needs sample (or file) and population columns")
        }
        let countCol = table.column("count", "events"), pctCol = table.column("percent", "pct", "%", "percent_parent")
        let absCol = table.column("absolute", "cells_per_ul", "abs")
        guard countCol != nil || pctCol != nil || absCol != nil else {
            throw fail(.manualHeader, table.headerLine, "the header needs at least one of count, percent, absolute")
        }
        var out: [ManualResult] = []
        var seen = Set<String>()
        for row in table.rows {
            let line = row.line
            func value(_ i: Int?) -> String? { table.value(row, i) }
            guard let sample = value(sampleCol) else { throw fail(.manualRow, line, "no sample") }
            guard let popName = value(popCol) else { throw fail(.manualRow, line, "no population") }
            guard let population = Population(name: popName) else {
                throw fail(
                    .manualPopulation, line,
                    "unknown population (use one of \(Population.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            var result = ManualResult(sample: sample, population: population)
            if let s = value(countCol) {
                guard let v = Int(s), v >= 0 else {
                    throw fail(.manualValue, line, "count is not a non-negative integer")
                }
                result.count = v
            }
            if let s = value(pctCol) {
                guard let v = Double(s.hasSuffix("%") ? String(s.dropLast()) : s), v.isFinite, v >= 0, v <= 100 else {
                    throw fail(.manualValue, line, "percent is not a number from 0 to 100")
                }
                result.percent = v
            }
            if let s = value(absCol) {
                guard let v = Double(s), v.isFinite, v >= 0 else {
                    throw fail(.manualValue, line, "absolute is not a non-negative number")
                }
                result.absolute = v
            }
            guard result.count != nil || result.percent != nil || result.absolute != nil else {
                throw fail(.manualRow, line, "no count, percent or absolute value")
            }
            guard seen.insert(ManualSamples.key(sample) + "|" + population.rawValue).inserted else {
                throw fail(.manualDuplicate, line, "the sample's \(population.rawValue) appears twice")
            }
            out.append(result)
        }
        guard !out.isEmpty else { throw fail(.manualEmpty, nil, "the file has no results") }
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
