import Foundation
import SafeXML

/// The vendor-neutral export `urn:hivrna-export:v1` (contract: `docs/hivrna-export.xsd`).
struct NeutralFormat: LabFormatHandler {
    let options: LabImportOptions
    var assays: [String: AssayInfo] = [:]
    var run: (id: String, assay: AssayInfo, completed: LabTimestamp, valid: Bool)?
    var resultIDs = Set<String>()
    var createdAt: LabTimestamp?

    init(options: LabImportOptions) { self.options = options }

    static func attr(_ attrs: [XMLAttribute], _ name: String) -> String? {
        attrs.first { $0.localName == name && $0.namespace == nil }?.value
    }

    mutating func begin(_ attrs: [XMLAttribute], line: Int) throws(LabFileError) {
        guard let export = Self.attr(attrs, "exportId"), !export.isEmpty, let created = Self.attr(attrs, "createdAt") else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "HivRnaExport needs exportId and createdAt", line: line)
        }
        guard let c = LabTimestamp.parseISO(created) else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "createdAt is not a zoned date-time", line: line)
        }
        guard let version = Self.attr(attrs, "schemaVersion"), version.hasPrefix("1.") else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "schemaVersion 1.x is required", line: line)
        }
        createdAt = c
    }

    func opensScope(_ name: String, _ ns: String?) -> Bool { name == "Run" && ns == LabImporter.neutralNS }

    mutating func enterScope(_ name: String, _ attrs: [XMLAttribute], line: Int) throws(LabFileError) {
        guard let id = Self.attr(attrs, "id"), !id.isEmpty else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "a Run has no id", line: line)
        }
        guard let ref = Self.attr(attrs, "assayRef") else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "Run \(id) has no assayRef", line: line)
        }
        guard let assay = assays[ref] else {
            throw LabFileError(code: "E-XML-UNKNOWN-ASSAY", message: "Run \(id) refers to assay \(ref), which the Assays section does not declare", line: line)
        }
        guard let completed = Self.attr(attrs, "completedAt").flatMap({ LabTimestamp.parseISO($0) }) else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "Run \(id) has no valid completedAt", line: line)
        }
        let status = Self.attr(attrs, "runStatus")
        guard status == "valid" || status == "invalid" else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "Run \(id) runStatus must be valid or invalid", line: line)
        }
        run = (id, assay, completed, status == "valid")
    }

    mutating func leaveScope() { run = nil }

    mutating func element<S: LabResultSink>(_ node: XMLNode, report: inout LabFileReport, sink: inout S) throws(LabFileError) {
        guard node.namespace == LabImporter.neutralNS else {
            report.warnings.append("line \(node.line): element \(node.localName) outside the export namespace ignored")
            return
        }
        switch node.localName {
        case "Source", "Controls": return
        case "Assays":
            for a in node.children("Assay", namespace: LabImporter.neutralNS) { try assay(a) }
        case "Result":
            guard let run else {
                report.warnings.append("line \(node.line): Result outside a Run ignored")
                return
            }
            let id = node.attribute("id") ?? ""
            guard !id.isEmpty else {
                report.rejected.append(RejectedRecord(id: nil, code: "E-REC-MISSING-FIELD", message: "Result has no id", line: node.line))
                return
            }
            var staged: [HIVRNAResult] = []
            guard resultIDs.insert(id).inserted else {
                throw LabFileError(code: "E-XML-DUPLICATE-ID", message: "result id \(id) appears twice in the file", line: node.line)
            }
            do throws(RecordError) {
                switch try record(node, id: id, run: run) {
                case .result(let r): staged.append(r)
                case .retract: report.retracted.append(id)
                case .skip(let why): report.skipped.append("\(id): \(why)")
                }
            } catch {
                report.rejected.append(RejectedRecord(id: id, code: error.code, message: error.message, line: node.line))
            }
            for r in staged {
                do { try sink.stage(r) } catch { throw LabFileError(code: "E-STAGE", message: "\(error)", line: node.line) }
            }
        default:
            report.warnings.append("line \(node.line): unknown element \(node.localName) ignored")
        }
    }

    mutating func assay(_ a: XMLNode) throws(LabFileError) {
        guard let id = a.attribute("id"), let kit = a.attribute("kit"), let unitText = a.attribute("unit") else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "an Assay needs id, kit and unit", line: a.line)
        }
        guard let unit = ConcentrationUnit(rawValue: unitText) else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "Assay \(id) unit \(unitText) is not copies/mL, IU/mL or Eq/mL", line: a.line)
        }
        func num(_ name: String) throws(LabFileError) -> Double? {
            guard let s = a.attribute(name) else { return nil }
            guard let v = Double(s.trimmed), v.isFinite, v >= 0 else {
                throw LabFileError(code: "E-XML-MISSING-HEADER", message: "Assay \(id) \(name) is not a number", line: a.line)
            }
            return v
        }
        guard let lloq = try num("lloq"), let uloq = try num("uloq") else {
            throw LabFileError(code: "E-XML-MISSING-HEADER", message: "Assay \(id) needs its limits (lloq, uloq)", line: a.line)
        }
        assays[id] = AssayInfo(
            id: id, name: kit + (a.attribute("kitVersion").map { " \($0)" } ?? ""), unit: unit, lod: try num("lod"), lloq: lloq, uloq: uloq,
            iuPerCopy: try num("iuPerCopy"), provenance: "declared in the export")
    }

    enum RecordOutcome {
        case result(HIVRNAResult)
        case retract
        case skip(String)
    }

    static let outcomeElements = ["Quantified", "BelowLimit", "NotDetected", "AboveLimit", "Failed", "NotPerformed"]

    func record(_ node: XMLNode, id: String, run: (id: String, assay: AssayInfo, completed: LabTimestamp, valid: Bool)) throws(RecordError) -> RecordOutcome {
        // One pass over the children (first occurrence of each field wins).
        var patientID, specimenID, specimenType, collectedAt, resultedAt, statusText, replaces, log10Text, dilutionText, instrument, comment: String?
        var outcomeNode: XMLNode? = nil
        for c in node.children where c.namespace == LabImporter.neutralNS {
            switch c.localName {
            case "PatientId": if patientID == nil { patientID = c.text.trimmed }
            case "SpecimenId": if specimenID == nil { specimenID = c.text.trimmed }
            case "SpecimenType": if specimenType == nil { specimenType = c.text.trimmed }
            case "CollectedAt": if collectedAt == nil { collectedAt = c.text.trimmed }
            case "ResultedAt": if resultedAt == nil { resultedAt = c.text.trimmed }
            case "Status": if statusText == nil { statusText = c.text.trimmed }
            case "Replaces": if replaces == nil { replaces = c.text.trimmed }
            case "Log10": if log10Text == nil { log10Text = c.text.trimmed }
            case "DilutionFactor": if dilutionText == nil { dilutionText = c.text.trimmed }
            case "InstrumentText": if instrument == nil { instrument = c.text.trimmed }
            case "Comment": if comment == nil { comment = c.text.trimmed }
            case "Quantified", "BelowLimit", "NotDetected", "AboveLimit", "Failed", "NotPerformed": if outcomeNode == nil { outcomeNode = c }
            default: break
            }
        }
        func text(_ name: String) -> String? {
            switch name {
            case "PatientId": patientID
            case "SpecimenId": specimenID
            case "SpecimenType": specimenType
            case "CollectedAt": collectedAt
            case "ResultedAt": resultedAt
            case "Status": statusText
            case "Replaces": replaces
            case "Log10": log10Text
            case "DilutionFactor": dilutionText
            case "InstrumentText": instrument
            case "Comment": comment
            default: nil
            }
        }
        // 1. Missing fields.
        for field in ["PatientId", "SpecimenId", "CollectedAt", "ResultedAt", "Status"] where (text(field) ?? "").isEmpty {
            throw RecordError(code: "E-REC-MISSING-FIELD", message: "\(field) is missing")
        }
        guard let o = outcomeNode else {
            throw RecordError(code: "E-REC-MISSING-FIELD", message: "the outcome element (Quantified, BelowLimit, NotDetected, AboveLimit, Failed or NotPerformed) is missing")
        }
        // 2. Formats.
        guard let status = ResultStatus(rawValue: text("Status")!), status != .amended else {
            throw RecordError(code: "E-REC-BAD-FORMAT", message: "Status '\(text("Status")!.prefix(30))' is not a known status")
        }
        if status == .enteredInError { return .retract }
        if status == .preliminary { return .skip("preliminary result ignored until a final arrives") }
        guard let collected = LabTimestamp.parseISO(text("CollectedAt")!) else {
            throw RecordError(code: "E-REC-BAD-FORMAT", message: "CollectedAt is not a date or zoned date-time")
        }
        guard let resulted = LabTimestamp.parseISO(text("ResultedAt")!) else {
            throw RecordError(code: "E-REC-BAD-FORMAT", message: "ResultedAt is not a zoned date-time")
        }
        if (status == .cancelled) != (o.localName == "NotPerformed") {
            throw RecordError(code: "E-REC-BAD-FORMAT", message: "Status cancelled goes with NotPerformed, and only with it")
        }
        var unit: ConcentrationUnit? = nil
        if let u = o.attribute("unit") {
            guard let cu = ConcentrationUnit(rawValue: u) else { throw RecordError(code: "E-REC-BAD-FORMAT", message: "unit '\(u.prefix(20))' is not known") }
            unit = cu
        }
        var value: Double? = nil
        var limit: Double? = nil
        let outcome: ViralLoadOutcome
        var detected: Bool? = nil
        switch o.localName {
        case "Quantified":
            outcome = .quantified
            value = try RecordChecks.number(o.text, field: "Quantified")
        case "BelowLimit":
            outcome = .belowLimit
            limit = try RecordChecks.number(o.attribute("limit") ?? "", field: "limit")
            if let d = o.attribute("detected") {
                guard ["true", "false", "1", "0"].contains(d) else { throw RecordError(code: "E-REC-BAD-FORMAT", message: "detected is not a boolean") }
                detected = d == "true" || d == "1"
            }
        case "NotDetected":
            outcome = .notDetected
            detected = false
            if let l = o.attribute("limit") { limit = try RecordChecks.number(l, field: "limit") }
        case "AboveLimit":
            outcome = .aboveLimit
            limit = try RecordChecks.number(o.attribute("limit") ?? "", field: "limit")
        case "Failed": outcome = .failed
        default: outcome = .notPerformed
        }
        if o.localName != "Failed" && o.localName != "NotPerformed" && unit == nil {
            throw RecordError(code: "E-REC-MISSING-FIELD", message: "\(o.localName) has no unit")
        }
        let log10 = try text("Log10").map { s throws(RecordError) in try RecordChecks.number(s, field: "Log10") }
        let dilution = try text("DilutionFactor").map { s throws(RecordError) in try RecordChecks.number(s, field: "DilutionFactor") }
        if log10 != nil && outcome != .quantified { throw RecordError(code: "E-REC-BAD-FORMAT", message: "Log10 goes only with Quantified") }
        if !run.valid && outcome != .failed && outcome != .notPerformed {
            throw RecordError(code: "E-REC-BAD-FORMAT", message: "run \(run.id) is invalid; its results must be Failed or NotPerformed")
        }
        // 3-8.
        try RecordChecks.validate(
            value: value, limit: limit, log10: log10, dilution: dilution, unit: unit, assay: run.assay, outcome: outcome, collected: collected,
            resulted: resulted, runCompleted: run.completed, now: options.now)
        // 9. Units.
        if let unit, unit != run.assay.unit {
            throw RecordError(code: "E-REC-UNIT", message: "unit \(unit.rawValue) differs from assay \(run.assay.id)'s \(run.assay.unit.rawValue)")
        }
        if unit == .iu && run.assay.iuPerCopy == nil {
            throw RecordError(code: "E-REC-UNIT", message: "IU/mL cannot be converted: assay \(run.assay.id) has no iuPerCopy")
        }
        // 11. Enrolment.
        let patient = text("PatientId")!
        if let enrolled = options.enrolledPatients, !enrolled.contains(patient) {
            throw RecordError(code: "E-REC-UNKNOWN-PATIENT", message: "the patient is not enrolled in the registry")
        }
        var r = HIVRNAResult(
            id: id, patient: patient, specimen: text("SpecimenId")!, specimenType: text("SpecimenType"), collected: collected, resulted: resulted,
            status: status, replaces: text("Replaces"), outcome: outcome, reportedValue: value ?? limit, reportedUnit: unit, copies: nil, log10: nil,
            limit: nil, detected: detected, assay: run.assay, dilution: dilution, failureCode: o.localName == "Failed" ? (o.attribute("code") ?? "OTHER") : nil,
            reason: o.localName == "NotPerformed" ? o.attribute("reason") : (o.localName == "Failed" ? o.text.trimmed : nil),
            instrumentText: text("InstrumentText"), comment: text("Comment"), warnings: [], line: node.line, format: "neutral")
        if outcome == .notDetected && limit == nil { limit = run.assay.lod ?? run.assay.lloq }
        RecordChecks.quantities(&r, value: value ?? limit, unit: unit ?? run.assay.unit, assay: run.assay)
        if outcome == .notDetected {
            r.copies = nil
            r.log10 = nil
        }
        if status == .corrected && r.replaces == nil { r.warnings.append("W-CORRECTION-NO-REPLACES: corrected result without Replaces") }
        if outcome == .belowLimit, let l = limit, let lloq = run.assay.lloq, l != lloq {
            r.warnings.append("W-LIMIT-MISMATCH: limit \(l) differs from the assay LLOQ \(lloq)")
        }
        if outcome == .aboveLimit, let l = limit, let uloq = run.assay.uloq, l != uloq * (dilution ?? 1) {
            r.warnings.append("W-LIMIT-MISMATCH: limit \(l) differs from the assay ULOQ \(uloq)")
        }
        return .result(r)
    }
}
