import CytoModel
import Foundation
import SafeXML

/// Settings of the HIV RNA importer.
public struct LabImportOptions: Sendable {
    /// Largest accepted (decompressed) file.
    public var maxBytes: Int64 = 50 << 20
    /// FHIR: the `Patient.identifier` system that holds the study subject id (nil: the first).
    public var patientIdentifierSystem: String? = nil
    /// The ingest clock, for the future-date check (+24 h tolerance).
    public var now: Date = Date()
    /// When set, results of other patients are rejected (`E-REC-UNKNOWN-PATIENT`).
    public var enrolledPatients: Set<String>? = nil
    /// Mapping profiles for vendor XML.
    public var profiles: [MappingProfile] = []

    public init() {}
}

/// Receives the results of a file as they are validated. They are staged, not final: when
/// the file ends in a rejection the caller must drop everything staged from it (the pipeline
/// stages into an open transaction and commits only on a clean end).
public protocol LabResultSink {
    mutating func stage(_ result: HIVRNAResult) throws
}

/// Forwards staged results to a closure.
public struct ClosureSink: LabResultSink {
    let body: (HIVRNAResult) throws -> Void
    public init(_ body: @escaping (HIVRNAResult) throws -> Void) { self.body = body }
    public mutating func stage(_ result: HIVRNAResult) throws { try body(result) }
}

/// Collects results in memory (for `labs check` and tests).
public struct CollectingSink: LabResultSink {
    public var results: [HIVRNAResult] = []
    public init() {}
    public mutating func stage(_ result: HIVRNAResult) { results.append(result) }
}

/// Imports HIV-1 RNA results from XML: the neutral export (`urn:hivrna-export:v1`), HL7 FHIR R4
/// (Bundle or Observation) and mapped vendor formats. Streaming (libxml2 SAX2 push parser through
/// SafeXML), hostile-input safe, with the file- and record-level error codes of the corpus README.
public enum LabImporter {
    public static let neutralNS = "urn:hivrna-export:v1"
    public static let fhirNS = "http://hl7.org/fhir"

    /// Checks a file and returns every result (nothing is stored).
    public static func check(path: String, options: LabImportOptions = LabImportOptions()) -> LabFileReport {
        var sink = CollectingSink()
        var report = importFile(path: path, options: options, sink: &sink)
        report.results = report.status == .rejected ? [] : sink.results
        return report
    }

    /// Checks a document in memory (used by the fuzz target and tests).
    public static func check(
        bytes: [UInt8], name: String, options: LabImportOptions = LabImportOptions()
    ) -> LabFileReport {
        var report = LabFileReport(
            file: name, format: nil, status: .accepted, error: nil, results: [], rejected: [], retracted: [],
            skipped: [], warnings: [])
        var sink = CollectingSink()
        do throws(LabFileError) {
            var limits = XMLLimits()
            limits.maxBytes = options.maxBytes
            let reader: XMLEventReader
            do { reader = try XMLEventReader(bytes: bytes, name: name, limits: limits) } catch { throw map(error) }
            var parser = LabDocumentParser(reader: reader, options: options, report: report)
            try parser.run(sink: &sink)
            report = parser.report
            report.status = report.rejected.isEmpty ? .accepted : .partial
            report.results = sink.results
        } catch {
            report.status = .rejected
            report.error = error
            report.rejected = []
            report.retracted = []
        }
        return report
    }

    /// Imports a file into `sink`. `report.results` is left empty (the sink has them).
    public static func importFile<S: LabResultSink>(
        path: String, options: LabImportOptions, sink: inout S
    ) -> LabFileReport {
        var report = LabFileReport(
            file: path, format: nil, status: .accepted, error: nil, results: [], rejected: [], retracted: [],
            skipped: [], warnings: [])
        do {
            if let attrs = try? FileManager.default.attributesOfItem(atPath: path), let size = attrs[.size] as? Int64,
                size > options.maxBytes
            {
                throw LabFileError(
                    code: .fileTooLarge, message: "file is \(size) bytes, over the \(options.maxBytes)-byte limit")
            }
            var limits = XMLLimits()
            limits.maxBytes = options.maxBytes
            let reader: XMLEventReader
            do {
                reader = try XMLEventReader(path: path, limits: limits)
            } catch {
                throw map(error)
            }
            var parser = LabDocumentParser(reader: reader, options: options, report: report)
            try parser.run(sink: &sink)
            report = parser.report
            report.status = report.rejected.isEmpty ? .accepted : .partial
        } catch let e as LabFileError {
            report.status = .rejected
            report.error = e
            report.rejected = []
            report.retracted = []
        } catch {
            report.status = .rejected
            report.error = LabFileError(code: .fileIO, message: "\(error)")
        }
        return report
    }

    static func map(_ e: XMLError) -> LabFileError {
        switch e.code {
        case .tooLarge: LabFileError(code: .fileTooLarge, message: e.message, line: e.line)
        case .encoding: LabFileError(code: .xmlEncoding, message: e.message, line: e.line)
        case .doctype: LabFileError(code: .xmlDTDForbidden, message: e.message, line: e.line)
        case .io: LabFileError(code: .fileIO, message: e.message, line: e.line)
        case .malformed, .tooDeep, .textTooLong: LabFileError(code: .xmlNotWellFormed, message: e.message, line: e.line)
        }
    }
}

/// A record-level failure.
struct RecordError: Error {
    var code: RejectionCode
    var message: String
}

/// Streams one document and dispatches to the format's record handler.
struct LabDocumentParser {
    let reader: XMLEventReader
    let options: LabImportOptions
    var report: LabFileReport

    init(reader: XMLEventReader, options: LabImportOptions, report: LabFileReport) {
        self.reader = reader
        self.options = options
        self.report = report
    }

    mutating func next() throws(LabFileError) -> XMLEvent? {
        do { return try reader.next() } catch { throw LabImporter.map(error) }
    }

    /// Collects the subtree of an element whose start was just read.
    mutating func subtree(
        _ name: String, _ ns: String?, _ attrs: [XMLAttribute], _ line: Int
    ) throws(LabFileError) -> XMLNode {
        var stack = [XMLNode(localName: name, namespace: ns, attributes: attrs, children: [], text: "", line: line)]
        while let e = try next() {
            switch e {
            case .start(let n, let s, let a, let l):
                stack.append(XMLNode(localName: n, namespace: s, attributes: a, children: [], text: "", line: l))
            case .text(let t):
                stack[stack.count - 1].text += t
            case .end:
                let node = stack.removeLast()
                if stack.isEmpty { return node }
                stack[stack.count - 1].children.append(node)
            }
        }
        throw LabFileError(code: .xmlNotWellFormed, message: "document ended inside <\(name)>", line: line)
    }

    mutating func run<S: LabResultSink>(sink: inout S) throws(LabFileError) {
        var root: (String, String?, [XMLAttribute], Int)?
        while let e = try next() {
            if case .start(let n, let ns, let a, let l) = e {
                root = (n, ns, a, l)
                break
            }
        }
        guard let (name, ns, attrs, line) = root else {
            throw LabFileError(code: .xmlNotWellFormed, message: "document has no root element")
        }
        if name == "HivRnaExport" && ns == LabImporter.neutralNS {
            report.format = "neutral"
            var f = NeutralFormat(options: options)
            try f.begin(attrs, line: line)
            try parseChildren(format: &f, sink: &sink)
        } else if (name == "Bundle" || name == "Observation") && ns == LabImporter.fhirNS {
            report.format = "fhir"
            if reader.encoding == .utf16LE || reader.encoding == .utf16BE {
                throw LabFileError(code: .xmlEncoding, message: "FHIR XML must be UTF-8")
            }
            var f = FHIRFormat(options: options)
            if name == "Observation" {
                f.add(entry: try subtree(name, ns, attrs, line))
                while try next() != nil {}
            } else {
                try parseChildren(format: &f, sink: &sink)
            }
            try f.finish(into: &report, sink: &sink)
        } else if ns == nil, let profile = options.profiles.first(where: { $0.rootElement == name }) {
            report.format = "profile:\(profile.name)"
            var f = ProfileFormat(compiled: try profile.compiled(), options: options, rootAttributes: attrs)
            try parseChildren(format: &f, sink: &sink)
            try f.finish(into: &report, sink: &sink)
        } else {
            throw LabFileError(
                code: .xmlUnsupportedRoot,
                message:
                    "root element \(name) in namespace \(ns ?? "(none)") is not a supported format (neutral urn:hivrna-export:v1, FHIR R4 Bundle/Observation, or a configured profile)",
                line: line)
        }
    }

    /// Runs an `XMLEventReader` call, mapping its error.
    static func call<T>(_ body: () throws(XMLError) -> T) throws(LabFileError) -> T {
        do { return try body() } catch { throw LabImporter.map(error) }
    }

    /// Feeds each child element of the root (and of neutral Runs) to the format: streamed when
    /// the format takes it off the cursor, else as a subtree.
    mutating func parseChildren<F: LabFormatHandler, S: LabResultSink>(
        format: inout F, sink: inout S
    ) throws(LabFileError) {
        var depth = 1
        let reader = self.reader
        while let kind = try Self.call({ () throws(XMLError) in try reader.advance() }) {
            switch kind {
            case .start:
                let l = reader.line
                if try format.streamElement(reader, line: l, report: &report, sink: &sink) { continue }
                let n = reader.localName
                let ns = reader.namespace
                let a = try Self.call { () throws(XMLError) in try reader.attributes() }
                if format.opensScope(n, ns) {
                    try format.enterScope(n, a, line: l)
                    depth += 1
                } else {
                    let node = try subtree(n, ns, a, l)
                    try format.element(node, report: &report, sink: &sink)
                }
            case .end:
                depth -= 1
                if depth > 0 { format.leaveScope() }
            case .text:
                continue
            }
        }
        if depth != 0 { throw LabFileError(code: .xmlNotWellFormed, message: "document ended early") }
    }
}

protocol LabFormatHandler {
    /// Elements whose children are streamed one by one (neutral `Run`).
    func opensScope(_ name: String, _ ns: String?) -> Bool
    mutating func enterScope(_ name: String, _ attrs: [XMLAttribute], line: Int) throws(LabFileError)
    mutating func leaveScope()
    mutating func element<S: LabResultSink>(
        _ node: XMLNode, report: inout LabFileReport, sink: inout S) throws(LabFileError)
    /// Takes the element the cursor is on (its start just read) straight off the reader,
    /// through its end; false leaves the reader untouched.
    mutating func streamElement<S: LabResultSink>(
        _ reader: XMLEventReader, line: Int, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) -> Bool
}

extension LabFormatHandler {
    mutating func streamElement<S: LabResultSink>(
        _ reader: XMLEventReader, line: Int, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) -> Bool {
        false
    }
}

// MARK: - Shared record checks

enum RecordChecks {
    /// `[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?`: the schema's NumberText with an
    /// optional sign.
    static func isNumberText<S: StringProtocol>(_ t: S) -> Bool {
        let u = t.utf8
        var i = u.startIndex
        func peek() -> UInt8? { i < u.endIndex ? u[i] : nil }
        func digits(_ max: Int = .max) -> Int {
            var n = 0
            while n < max, let c = peek(), c >= 48 && c <= 57 {
                u.formIndex(after: &i)
                n += 1
            }
            return n
        }
        if let f = peek(), f == 43 || f == 45 { u.formIndex(after: &i) }
        guard digits() > 0 else { return false }
        if peek() == 46 {
            u.formIndex(after: &i)
            guard digits() > 0 else { return false }
        }
        if let e = peek(), e == 101 || e == 69 {
            u.formIndex(after: &i)
            if let f = peek(), f == 43 || f == 45 { u.formIndex(after: &i) }
            guard digits(3) >= 1 else { return false }
        }
        return i == u.endIndex
    }

    /// A number with an optional sign (so that negatives can be named by the next check).
    static func number(_ s: String, field: String) throws(RecordError) -> Double {
        let t = s.trimmed
        guard isNumberText(t), let v = Double(t) else {
            throw RecordError(code: .recordBadFormat, message: "\(field) '\(t.prefix(40))' is not a number")
        }
        return v
    }

    static let minimumCollected = CivilDate.days(year: 1980, month: 1, day: 1)

    /// Negative, range, log and date checks in the README's order (steps 3-8).
    static func validate(
        value: Double?, limit: Double?, log10: Double?, dilution: Double?, unit: ConcentrationUnit?, assay: AssayInfo?,
        outcome: ViralLoadOutcome,
        collected: LabTimestamp, resulted: LabTimestamp?, runCompleted: LabTimestamp?, now: Date
    ) throws(RecordError) {
        // Fixed order: all negatives first, then non-finite values (no per-record arrays).
        func negative(_ name: String, _ v: Double?) throws(RecordError) {
            if let v, v < 0 { throw RecordError(code: .recordNegativeValue, message: "\(name) \(v) is negative") }
        }
        func nonFinite(_ name: String, _ v: Double?) throws(RecordError) {
            if let v, !v.isFinite { throw RecordError(code: .recordValueOutOfRange, message: "\(name) is not finite") }
        }
        try negative("value", value)
        try negative("limit", limit)
        try negative("Log10", log10)
        try negative("dilution factor", dilution)
        try nonFinite("value", value)
        try nonFinite("limit", limit)
        try nonFinite("Log10", log10)
        try nonFinite("dilution factor", dilution)
        let d = dilution ?? 1
        if d > 1000 { throw RecordError(code: .recordValueOutOfRange, message: "dilution factor \(d) is above 1000") }
        if d < 1 { throw RecordError(code: .recordValueOutOfRange, message: "dilution factor \(d) is below 1") }
        if let limit, limit > 1e9 {
            throw RecordError(code: .recordValueOutOfRange, message: "limit \(limit) is above 1E+9")
        }
        // A censoring limit of zero has no meaning (and no logarithm).
        if let limit, limit == 0 {
            throw RecordError(
                code: .recordValueOutOfRange, message: "limit 0 is not a detection or quantification limit")
        }
        if let v = value {
            let copies = unit.flatMap { u in assay?.copies(v, unit: u) } ?? v
            if copies > 1e9 {
                throw RecordError(
                    code: .recordValueOutOfRange,
                    message: "value \(v) is above the plausibility ceiling of 1E+9 copies/mL")
            }
            // A quantified value is above zero whatever the assay says (no log10 of zero).
            if outcome == .quantified, v <= 0 {
                throw RecordError(code: .recordValueOutOfRange, message: "quantified value must be above zero")
            }
            if outcome == .quantified, let a = assay {
                if let lloq = a.lloq, v < lloq {
                    throw RecordError(
                        code: .recordValueOutOfRange, message: "quantified value \(v) is below the assay's LLOQ \(lloq)"
                    )
                }
                if let uloq = a.uloq, v > uloq * d {
                    throw RecordError(
                        code: .recordValueOutOfRange,
                        message: "quantified value \(v) is above ULOQ \(uloq) x dilution \(d)")
                }
            }
            if let log10, abs(log10 - Foundation.log10(v)) > 0.01 {
                throw RecordError(
                    code: .recordLogMismatch,
                    message:
                        "Log10 \(log10) does not match log10(\(v)) = \(String(format: "%.2f", Foundation.log10(v)))")
            }
        }
        let ceiling = Int64(now.timeIntervalSince1970) + 86_400
        func future(_ name: String, _ t: LabTimestamp?) throws(RecordError) {
            if let t, t.epochSeconds > ceiling {
                throw RecordError(code: .recordFutureDate, message: "\(name) \(t.text) is in the future")
            }
        }
        try future("collected", collected)
        try future("resulted", resulted)
        try future("run completed", runCompleted)
        if collected.localDays < minimumCollected {
            throw RecordError(code: .recordDateRange, message: "collected \(collected.text) is before 1980-01-01")
        }
        func after(_ a: LabTimestamp, _ b: LabTimestamp) -> Bool {
            a.hasTime && b.hasTime ? a.epochSeconds > b.epochSeconds : a.localDays > b.localDays
        }
        if let r = resulted, after(collected, r) {
            throw RecordError(
                code: .recordDateOrder, message: "collected \(collected.text) is after resulted \(r.text)")
        }
        if let c = runCompleted, after(collected, c) {
            throw RecordError(
                code: .recordDateOrder, message: "collected \(collected.text) is after run completion \(c.text)")
        }
    }

    /// Fills copies, limit and log10 from a validated outcome.
    static func quantities(_ r: inout HIVRNAResult, value: Double?, unit: ConcentrationUnit?, assay: AssayInfo?) {
        guard let value, let unit else { return }
        let copies: Double?
        if let a = assay { copies = a.copies(value, unit: unit) } else { copies = unit == .iu ? nil : value }
        if unit == .equivalents { r.warnings.append("W-LEGACY-EQ-UNITS: bDNA equivalents read as copies/mL") }
        if copies == nil { r.warnings.append("W-UNIT-NOT-CONVERTED: IU/mL kept; no IU factor for the assay") }
        switch r.outcome {
        case .quantified:
            r.copies = copies
            r.log10 = copies.map { Foundation.log10($0) }
        case .belowLimit, .aboveLimit, .notDetected:
            r.limit = copies
            r.copies = copies
            r.log10 = copies.map { Foundation.log10($0) }
        default: break
        }
    }
}
