import CytoModel
import Foundation
import SafeXML

/// The vendor-neutral export `urn:hivrna-export:v1` (contract: `docs/hivrna-export.xsd`).
struct NeutralFormat: LabFormatHandler {
    let options: LabImportOptions
    var assays: [String: AssayInfo] = [:]
    var run: (id: String, assay: AssayInfo, completed: LabTimestamp, valid: Bool)?
    var resultIDs = Set<String>()
    var createdAt: LabTimestamp?
    var tokens: NeutralTokens?
    var scratch = NeutralFields(line: 0)

    init(options: LabImportOptions) { self.options = options }

    /// An attribute of a schema type other than `xs:string`: whitespace collapsed (XSD
    /// `whiteSpace="collapse"`), so `runStatus=" valid "` is valid.
    static func attr(_ attrs: [XMLAttribute], _ name: String) -> String? {
        attrs.first { $0.localName == name && $0.namespace == nil }?.value.xsdCollapsed
    }

    mutating func begin(_ attrs: [XMLAttribute], line: Int) throws(LabFileError) {
        guard let export = Self.attr(attrs, "exportId"), !export.isEmpty, let created = Self.attr(attrs, "createdAt")
        else {
            throw LabFileError(
                code: .xmlMissingHeader, message: "HivRnaExport needs exportId and createdAt", line: line)
        }
        guard let c = LabTimestamp.parseISO(created) else {
            throw LabFileError(code: .xmlMissingHeader, message: "createdAt is not a zoned date-time", line: line)
        }
        guard let version = Self.attr(attrs, "schemaVersion"), version.hasPrefix("1.") else {
            throw LabFileError(code: .xmlMissingHeader, message: "schemaVersion 1.x is required", line: line)
        }
        createdAt = c
    }

    func opensScope(_ name: String, _ ns: String?) -> Bool { name == "Run" && ns == LabImporter.neutralNS }

    mutating func enterScope(_ name: String, _ attrs: [XMLAttribute], line: Int) throws(LabFileError) {
        guard let id = Self.attr(attrs, "id"), !id.isEmpty else {
            throw LabFileError(code: .xmlMissingHeader, message: "a Run has no id", line: line)
        }
        guard let ref = Self.attr(attrs, "assayRef") else {
            throw LabFileError(code: .xmlMissingHeader, message: "Run \(id) has no assayRef", line: line)
        }
        guard let assay = assays[ref] else {
            throw LabFileError(
                code: .xmlUnknownAssay,
                message: "Run \(id) refers to assay \(ref), which the Assays section does not declare", line: line)
        }
        guard let completed = Self.attr(attrs, "completedAt").flatMap({ LabTimestamp.parseISO($0) }) else {
            throw LabFileError(code: .xmlMissingHeader, message: "Run \(id) has no valid completedAt", line: line)
        }
        let status = Self.attr(attrs, "runStatus")
        guard status == "valid" || status == "invalid" else {
            throw LabFileError(
                code: .xmlMissingHeader, message: "Run \(id) runStatus must be valid or invalid", line: line)
        }
        run = (id, assay, completed, status == "valid")
    }

    mutating func leaveScope() { run = nil }

    mutating func element<S: LabResultSink>(
        _ node: XMLNode, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) {
        guard node.namespace == LabImporter.neutralNS else {
            report.warnings.append("line \(node.line): element \(node.localName) outside the export namespace ignored")
            return
        }
        switch node.localName {
        case "Source", "Controls": return
        case "Assays":
            for a in node.children("Assay", namespace: LabImporter.neutralNS) { try assay(a) }
        default:
            report.warnings.append("line \(node.line): unknown element \(node.localName) ignored")
        }
    }

    /// Neutral `Result`s are read straight off the cursor (no element tree): the hot path of a
    /// large export.
    mutating func streamElement<S: LabResultSink>(
        _ reader: XMLEventReader, line: Int, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) -> Bool {
        if tokens == nil { tokens = NeutralTokens(reader) }
        let t = tokens!
        guard reader.localNameToken == t.result, reader.namespaceToken == t.namespace else { return false }
        let id = try LabDocumentParser.call { () throws(XMLError) in try reader.attribute(t.id) }?.xsdCollapsed ?? ""
        // One scratch record reused for every Result (no per-record field array).
        scratch.reset(line: line)
        try NeutralFields.read(reader, tokens: t, into: &scratch)
        let fields = scratch
        guard let run else {
            report.warnings.append("line \(line): Result outside a Run ignored")
            return true
        }
        guard !id.isEmpty else {
            report.rejected.append(
                RejectedRecord(id: nil, code: .recordMissingField, message: "Result has no id", line: line))
            return true
        }
        guard resultIDs.insert(id).inserted else {
            throw LabFileError(code: .xmlDuplicateID, message: "result id \(id) appears twice in the file", line: line)
        }
        var staged: HIVRNAResult?
        do throws(RecordError) {
            switch try record(fields, id: id, run: run) {
            case .result(let r): staged = r
            case .retract: report.retracted.append(id)
            case .skip(let why): report.skipped.append(SkippedRecord(id: id, line: line, reason: why))
            }
        } catch {
            report.rejected.append(RejectedRecord(id: id, code: error.code, message: error.message, line: line))
        }
        if let staged {
            do { try sink.stage(staged) } catch { throw LabFileError(code: .stage, message: "\(error)", line: line) }
        }
        return true
    }

    mutating func assay(_ a: XMLNode) throws(LabFileError) {
        guard let id = a.attribute("id")?.xsdCollapsed, let kit = a.attribute("kit"),
            let unitText = a.attribute("unit")?.xsdCollapsed
        else {
            throw LabFileError(code: .xmlMissingHeader, message: "an Assay needs id, kit and unit", line: a.line)
        }
        guard let unit = ConcentrationUnit(rawValue: unitText) else {
            throw LabFileError(
                code: .xmlMissingHeader, message: "Assay \(id) unit \(unitText) is not copies/mL, IU/mL or Eq/mL",
                line: a.line)
        }
        func num(_ name: String) throws(LabFileError) -> Double? {
            guard let s = a.attribute(name) else { return nil }
            guard let v = Double(s.xsdCollapsed), v.isFinite, v >= 0 else {
                throw LabFileError(
                    code: .xmlMissingHeader, message: "Assay \(id) \(name) is not a number", line: a.line)
            }
            return v
        }
        guard let lloq = try num("lloq"), let uloq = try num("uloq") else {
            throw LabFileError(
                code: .xmlMissingHeader, message: "Assay \(id) needs its limits (lloq, uloq)", line: a.line)
        }
        assays[id] = AssayInfo(
            id: id, name: kit + (a.attribute("kitVersion").map { " \($0)" } ?? ""), unit: unit, lod: try num("lod"),
            lloq: lloq, uloq: uloq,
            iuPerCopy: try num("iuPerCopy"), provenance: "declared in the export")
    }

    enum RecordOutcome {
        case result(HIVRNAResult)
        case retract
        case skip(String)
    }

    func record(
        _ f: NeutralFields, id: String, run: (id: String, assay: AssayInfo, completed: LabTimestamp, valid: Bool)
    ) throws(RecordError) -> RecordOutcome {
        func text(_ field: NeutralFields.Field) -> String? { f.texts[field.rawValue] }
        // 1. Missing fields.
        for field in [NeutralFields.Field.patientId, .specimenId, .collectedAt, .resultedAt, .status]
        where (text(field) ?? "").isEmpty {
            throw RecordError(code: .recordMissingField, message: "\(NeutralFields.names[field.rawValue]) is missing")
        }
        guard let o = f.outcome else {
            throw RecordError(
                code: .recordMissingField,
                message:
                    "the outcome element (Quantified, BelowLimit, NotDetected, AboveLimit, Failed or NotPerformed) is missing"
            )
        }
        // 2. Formats.
        guard let status = ResultStatus(rawValue: text(.status)!), status != .amended else {
            throw RecordError(
                code: .recordBadFormat, message: "Status '\(text(.status)!.prefix(30))' is not a known status")
        }
        if status == .enteredInError { return .retract }
        if status == .preliminary { return .skip("preliminary result ignored until a final arrives") }
        guard let collected = LabTimestamp.parseISO(text(.collectedAt)!) else {
            throw RecordError(code: .recordBadFormat, message: "CollectedAt is not a date or zoned date-time")
        }
        guard let resulted = LabTimestamp.parseISO(text(.resultedAt)!) else {
            throw RecordError(code: .recordBadFormat, message: "ResultedAt is not a zoned date-time")
        }
        if (status == .cancelled) != (o.kind == .notPerformed) {
            throw RecordError(
                code: .recordBadFormat, message: "Status cancelled goes with NotPerformed, and only with it")
        }
        var unit: ConcentrationUnit? = nil
        if let u = o.attribute("unit") {
            guard let cu = ConcentrationUnit(rawValue: u) else {
                throw RecordError(code: .recordBadFormat, message: "unit '\(u.prefix(20))' is not known")
            }
            unit = cu
        }
        var value: Double? = nil
        var limit: Double? = nil
        let outcome: ViralLoadOutcome
        var detected: Bool? = nil
        switch o.kind {
        case .quantified:
            outcome = .quantified
            value = try RecordChecks.number(o.text, field: "Quantified")
        case .belowLimit:
            outcome = .belowLimit
            limit = try RecordChecks.number(o.attribute("limit") ?? "", field: "limit")
            if let d = o.attribute("detected") {
                guard ["true", "false", "1", "0"].contains(d) else {
                    throw RecordError(code: .recordBadFormat, message: "detected is not a boolean")
                }
                detected = d == "true" || d == "1"
            }
        case .notDetected:
            outcome = .notDetected
            detected = false
            if let l = o.attribute("limit") { limit = try RecordChecks.number(l, field: "limit") }
        case .aboveLimit:
            outcome = .aboveLimit
            limit = try RecordChecks.number(o.attribute("limit") ?? "", field: "limit")
        case .failed: outcome = .failed
        default: outcome = .notPerformed
        }
        if o.kind != .failed && o.kind != .notPerformed && unit == nil {
            throw RecordError(code: .recordMissingField, message: "\(o.localName) has no unit")
        }
        let log10 = try text(.log10).map { s throws(RecordError) in try RecordChecks.number(s, field: "Log10") }
        let dilution = try text(.dilutionFactor).map { s throws(RecordError) in
            try RecordChecks.number(s, field: "DilutionFactor")
        }
        if log10 != nil && outcome != .quantified {
            throw RecordError(code: .recordBadFormat, message: "Log10 goes only with Quantified")
        }
        if !run.valid && outcome != .failed && outcome != .notPerformed {
            throw RecordError(
                code: .recordBadFormat, message: "run \(run.id) is invalid; its results must be Failed or NotPerformed")
        }
        // 3-8.
        try RecordChecks.validate(
            value: value, limit: limit, log10: log10, dilution: dilution, unit: unit, assay: run.assay,
            outcome: outcome, collected: collected,
            resulted: resulted, runCompleted: run.completed, now: options.now)
        // 9. Units.
        if let unit, unit != run.assay.unit {
            throw RecordError(
                code: .recordUnit,
                message: "unit \(unit.rawValue) differs from assay \(run.assay.id)'s \(run.assay.unit.rawValue)")
        }
        if unit == .iu && run.assay.iuPerCopy == nil {
            throw RecordError(
                code: .recordUnit, message: "IU/mL cannot be converted: assay \(run.assay.id) has no iuPerCopy")
        }
        // 11. Enrolment.
        let patient = text(.patientId)!
        if let enrolled = options.enrolledPatients, !enrolled.contains(patient) {
            throw RecordError(code: .recordUnknownPatient, message: "the patient is not enrolled in the registry")
        }
        var r = HIVRNAResult(
            id: id, patient: patient, specimen: text(.specimenId)!, specimenType: text(.specimenType),
            collected: collected, resulted: resulted,
            status: status, replaces: text(.replaces), outcome: outcome, reportedValue: value ?? limit,
            reportedUnit: unit, copies: nil, log10: nil,
            limit: nil, detected: detected, assay: run.assay, dilution: dilution,
            failureCode: o.kind == .failed ? (o.attribute("code") ?? "OTHER") : nil,
            reason: o.kind == .notPerformed ? o.attribute("reason") : (o.kind == .failed ? o.text.trimmed : nil),
            instrumentText: text(.instrumentText), comment: text(.comment), warnings: [], line: f.line,
            format: "neutral")
        if outcome == .notDetected && limit == nil { limit = run.assay.lod ?? run.assay.lloq }
        RecordChecks.quantities(&r, value: value ?? limit, unit: unit ?? run.assay.unit, assay: run.assay)
        if outcome == .notDetected {
            r.copies = nil
            r.log10 = nil
        }
        if status == .corrected && r.replaces == nil {
            r.warnings.append("W-CORRECTION-NO-REPLACES: corrected result without Replaces")
        }
        if outcome == .belowLimit, let l = limit, let lloq = run.assay.lloq, l != lloq {
            r.warnings.append("W-LIMIT-MISMATCH: limit \(l) differs from the assay LLOQ \(lloq)")
        }
        if outcome == .aboveLimit, let l = limit, let uloq = run.assay.uloq, l != uloq * (dilution ?? 1) {
            r.warnings.append("W-LIMIT-MISMATCH: limit \(l) differs from the assay ULOQ \(uloq)")
        }
        return .result(r)
    }
}

/// The interned names a neutral Result is read with.
struct NeutralTokens {
    let namespace: XMLNameToken
    let result: XMLNameToken
    let id: XMLNameToken
    /// `NeutralFields.names` then `NeutralFields.outcomeNames`, in order.
    let children: [XMLNameToken]

    init(_ reader: XMLEventReader) {
        namespace = reader.token(LabImporter.neutralNS)
        result = reader.token("Result")
        id = reader.token("id")
        children = (NeutralFields.names + NeutralFields.outcomeNames).map { reader.token($0) }
    }
}

/// The fields of one neutral Result: the first occurrence of each child element, trimmed.
struct NeutralFields {
    static let names = [
        "PatientId", "SpecimenId", "SpecimenType", "CollectedAt", "ResultedAt", "Status", "Replaces", "Log10",
        "DilutionFactor",
        "InstrumentText", "Comment",
    ]
    static let outcomeNames = ["Quantified", "BelowLimit", "NotDetected", "AboveLimit", "Failed", "NotPerformed"]

    /// The outcome element: its name, attributes and direct text (untrimmed).
    enum Field: Int {
        case patientId, specimenId, specimenType, collectedAt, resultedAt, status, replaces, log10, dilutionFactor,
            instrumentText, comment
    }

    enum OutcomeKind: Int {
        case quantified, belowLimit, notDetected, aboveLimit, failed, notPerformed
    }

    struct Outcome {
        var kind: OutcomeKind
        var localName: String { NeutralFields.outcomeNames[kind.rawValue] }
        var attributes: [XMLAttribute]
        var text: String
        /// An attribute's value; every outcome attribute but `reason` (`xs:string`) is of a
        /// collapsing type (unit, limit, detected, code).
        func attribute(_ name: String) -> String? {
            let v = attributes.first { $0.localName == name }?.value
            return name == "reason" ? v : v?.xsdCollapsed
        }
    }

    var texts = [String?](repeating: nil, count: names.count)
    var outcome: Outcome?
    var line: Int

    /// Reads the children of the Result element the cursor is on, through its end.
    mutating func reset(line: Int) {
        for i in texts.indices { texts[i] = nil }
        outcome = nil
        self.line = line
    }

    static func read(
        _ reader: XMLEventReader, tokens t: NeutralTokens, into f: inout NeutralFields
    ) throws(LabFileError) {
        let line = f.line
        var level = 0
        var field = -1
        var capturingOutcome = false
        var buffer = ""
        while true {
            let kind = try LabDocumentParser.call { () throws(XMLError) in try reader.advance() }
            guard let kind else {
                throw LabFileError(code: .xmlNotWellFormed, message: "document ended inside <Result>", line: line)
            }
            switch kind {
            case .start:
                level += 1
                guard level == 1 else { continue }
                field = -1
                capturingOutcome = false
                buffer = ""
                guard reader.namespaceToken == t.namespace else { continue }
                let name = reader.localNameToken
                guard let k = t.children.firstIndex(of: name) else { continue }
                field = k
                if k >= names.count && f.outcome == nil {
                    capturingOutcome = true
                    let attributes = try LabDocumentParser.call { () throws(XMLError) in try reader.attributes() }
                    f.outcome = Outcome(kind: OutcomeKind(rawValue: k - names.count)!, attributes: attributes, text: "")
                }
            case .text:
                if level == 1 && field >= 0 {
                    buffer += try LabDocumentParser.call { () throws(XMLError) in try reader.text() }
                }
            case .end:
                if level == 0 { return }
                if level == 1 && field >= 0 {
                    if field < names.count {
                        if f.texts[field] == nil { f.texts[field] = buffer.trimmed }
                    } else if capturingOutcome {
                        f.outcome?.text = buffer
                    }
                    field = -1
                }
                level -= 1
            }
        }
    }
}
