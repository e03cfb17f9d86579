import CytoModel
import Foundation
import SafeXML

/// HL7 FHIR R4 XML: a Bundle (collection, searchset, batch, transaction) of Observations (and
/// Patients), or a bare Observation. Observations are buffered: patients resolve and log10
/// companions merge only once the whole bundle has been read.
struct FHIRFormat: LabFormatHandler {
    let options: LabImportOptions
    /// fullUrl or "Patient/id" -> subject id.
    var patients: [String: String] = [:]
    var observations: [XMLNode] = []
    var observationIDs = Set<String>()
    var duplicate: (String, Int)?

    static let copiesCodes: Set<String> = ["20447-9", "70241-5", "48511-0", "25836-8", "59419-2", "29539-4", "23876-6"]
    static let iuCode = "62469-2"
    static let logCode = "29541-0"

    init(options: LabImportOptions) { self.options = options }

    func opensScope(_ name: String, _ ns: String?) -> Bool { false }
    mutating func enterScope(_ name: String, _ attrs: [XMLAttribute], line: Int) throws(LabFileError) {}
    mutating func leaveScope() {}

    static func value(_ node: XMLNode?, _ child: String) -> String? {
        node?.child(child, namespace: LabImporter.fhirNS)?.attribute("value")
    }

    static func path(_ node: XMLNode?, _ names: String...) -> XMLNode? {
        var n = node
        for name in names { n = n?.child(name, namespace: LabImporter.fhirNS) }
        return n
    }

    mutating func element<S: LabResultSink>(
        _ node: XMLNode, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) {
        guard node.namespace == LabImporter.fhirNS, node.localName == "entry" else { return }
        add(entry: node)
    }

    mutating func add(entry: XMLNode) {
        let resource: XMLNode?
        let fullUrl: String?
        if entry.localName == "Observation" {
            resource = entry
            fullUrl = nil
        } else {
            resource = Self.path(entry, "resource")?.children.first
            fullUrl = Self.value(entry, "fullUrl")
        }
        guard let resource, resource.namespace == LabImporter.fhirNS else { return }
        switch resource.localName {
        case "Patient":
            let identifiers = resource.children("identifier", namespace: LabImporter.fhirNS)
            let chosen = identifiers.first {
                options.patientIdentifierSystem == nil || Self.value($0, "system") == options.patientIdentifierSystem
            }
            guard let subject = chosen.flatMap({ Self.value($0, "value") }) else { return }
            if let fullUrl { patients[fullUrl] = subject }
            if let id = Self.value(resource, "id") { patients["Patient/\(id)"] = subject }
        case "Observation":
            let id = Self.value(resource, "id") ?? "line-\(resource.line)"
            if !observationIDs.insert(id).inserted && duplicate == nil { duplicate = (id, resource.line) }
            observations.append(resource)
        default:
            return
        }
    }

    struct Candidate {
        var result: HIVRNAResult
        var issued: Int64
        var observationID: String
    }

    mutating func finish<S: LabResultSink>(into report: inout LabFileReport, sink: inout S) throws(LabFileError) {
        if let (id, line) = duplicate {
            throw LabFileError(
                code: .xmlDuplicateID, message: "Observation id \(id) appears twice in the file", line: line)
        }
        var results: [Candidate] = []
        var companions: [(HIVRNAResult, String)] = []
        for obs in observations {
            let obsID = Self.value(obs, "id") ?? "line-\(obs.line)"
            do throws(RecordError) {
                switch try observation(obs) {
                case .result(let r, let isLog, let issued):
                    if isLog {
                        companions.append((r, obsID))
                    } else {
                        results.append(Candidate(result: r, issued: issued, observationID: obsID))
                    }
                case .retract(let rid): report.retracted.append(rid)
                case .skip(let why): report.skipped.append(SkippedRecord(id: obsID, line: obs.line, reason: why))
                }
            } catch {
                report.rejected.append(
                    RejectedRecord(id: obsID, code: error.code, message: error.message, line: obs.line))
            }
        }
        // log10 companions: merged into the copies result of the same patient and specimen.
        for (c, obsID) in companions {
            if let partner = results.first(where: {
                $0.result.patient == c.patient && $0.result.specimen == c.specimen && $0.result.outcome == c.outcome
            }) {
                if let pl = partner.result.log10, let cl = c.log10, abs(pl - cl) > 0.01 {
                    report.rejected.append(
                        RejectedRecord(
                            id: obsID, code: .recordLogMismatch,
                            message: "log10 companion \(cl) does not match \(String(format: "%.2f", pl))", line: c.line)
                    )
                } else {
                    report.skipped.append(
                        SkippedRecord(
                            id: obsID, line: c.line, reason: "log10 companion merged into \(partner.observationID)"))
                }
            } else {
                results.append(Candidate(result: c, issued: c.resulted?.epochSeconds ?? 0, observationID: obsID))
            }
        }
        // The same result id twice: the correction (or the later issue) wins.
        var byID: [String: Candidate] = [:]
        var order: [String] = []
        for c in results {
            if let old = byID[c.result.id] {
                let rank = { (x: Candidate) -> (Int, Int64) in
                    (x.result.status == .corrected || x.result.status == .amended ? 1 : 0, x.issued)
                }
                let (win, lose) = rank(c) >= rank(old) ? (c, old) : (old, c)
                byID[c.result.id] = win
                report.skipped.append(
                    SkippedRecord(
                        id: lose.observationID, line: lose.result.line,
                        reason: "superseded by \(win.observationID) (result \(c.result.id))"))
            } else {
                byID[c.result.id] = c
                order.append(c.result.id)
            }
        }
        for id in order {
            do { try sink.stage(byID[id]!.result) } catch { throw LabFileError(code: .stage, message: "\(error)") }
        }
    }

    enum ObservationOutcome {
        case result(HIVRNAResult, isLog: Bool, issued: Int64)
        case retract(String)
        case skip(String)
    }

    func observation(_ obs: XMLNode) throws(RecordError) -> ObservationOutcome {
        let codings = Self.path(obs, "code")?.children("coding", namespace: LabImporter.fhirNS) ?? []
        let loinc = codings.first { Self.value($0, "system") == "http://loinc.org" }.flatMap { Self.value($0, "code") }
        guard let loinc, Self.copiesCodes.contains(loinc) || loinc == Self.iuCode || loinc == Self.logCode else {
            return .skip("not an HIV-1 RNA viral load (LOINC \(loinc ?? "none"))")
        }
        let isLog = loinc == Self.logCode
        let identifier = obs.children("identifier", namespace: LabImporter.fhirNS).first.flatMap {
            Self.value($0, "value")
        }
        let id = identifier ?? Self.value(obs, "id") ?? "line-\(obs.line)"
        guard let statusText = Self.value(obs, "status") else {
            throw RecordError(code: .recordMissingField, message: "status is missing")
        }
        let status: ResultStatus
        switch statusText {
        case "final": status = .final
        case "corrected": status = .corrected
        case "amended": status = .amended
        case "cancelled": status = .cancelled
        case "entered-in-error": return .retract(id)
        case "preliminary", "registered": return .skip("\(statusText) result ignored until a final arrives")
        default:
            throw RecordError(
                code: .recordBadFormat, message: "status '\(statusText.prefix(30))' is not an Observation status")
        }
        guard let reference = Self.value(Self.path(obs, "subject"), "reference") else {
            throw RecordError(code: .recordMissingField, message: "subject is missing")
        }
        guard let patient = patients[reference] else {
            throw RecordError(
                code: .recordUnknownPatient,
                message: "subject reference does not resolve to a Patient with a study identifier")
        }
        if let enrolled = options.enrolledPatients, !enrolled.contains(patient) {
            throw RecordError(code: .recordUnknownPatient, message: "the patient is not enrolled in the registry")
        }
        guard
            let effective = Self.value(obs, "effectiveDateTime")
                ?? Self.value(Self.path(obs, "effectivePeriod"), "start")
        else {
            throw RecordError(code: .recordMissingField, message: "effectiveDateTime (collection time) is missing")
        }
        guard let collected = LabTimestamp.parseISO(effective) else {
            throw RecordError(code: .recordBadFormat, message: "effectiveDateTime is not a date-time")
        }
        var resulted: LabTimestamp? = nil
        if let issued = Self.value(obs, "issued") {
            guard let t = LabTimestamp.parseISO(issued) else {
                throw RecordError(code: .recordBadFormat, message: "issued is not a zoned date-time")
            }
            resulted = t
        }
        let specimen =
            Self.value(Self.path(obs, "specimen", "identifier"), "value") ?? Self.value(
                Self.path(obs, "specimen"), "reference") ?? id
        let methodText = Self.value(Self.path(obs, "method"), "text") ?? ""
        let assay = AssayTable.match(methodText)
        let absent = Self.path(obs, "dataAbsentReason")?.children("coding", namespace: LabImporter.fhirNS).first.flatMap
        { Self.value($0, "code") }
        let interpretation =
            Self.path(obs, "interpretation")?.children("coding", namespace: LabImporter.fhirNS).compactMap {
                Self.value($0, "code")
            } ?? []
        var outcome: ViralLoadOutcome
        var value: Double? = nil
        var unit: ConcentrationUnit? = isLog ? nil : (loinc == Self.iuCode ? .iu : .copies)
        var detected: Bool? = nil
        var failure: String? = nil
        var reason: String? = nil
        if status == .cancelled {
            outcome = .notPerformed
            reason = absent ?? "cancelled"
        } else if let absent {
            if absent == "not-performed" {
                outcome = .notPerformed
                reason = absent
            } else {
                outcome = .failed
                failure = absent.uppercased().replacingOccurrences(of: "-", with: "_")
            }
        } else if let q = Self.path(obs, "valueQuantity") {
            value = try RecordChecks.number(Self.value(q, "value") ?? "", field: "valueQuantity.value")
            let code = (Self.value(q, "code") ?? Self.value(q, "unit") ?? "").lowercased()
            if !isLog {
                if code.contains("iu") {
                    unit = .iu
                } else if code.contains("copies") || code.isEmpty {
                    unit = .copies
                } else {
                    throw RecordError(
                        code: .recordUnit, message: "unit \(code.prefix(20)) cannot be converted to copies/mL")
                }
            }
            switch Self.value(q, "comparator") {
            case nil: outcome = .quantified
            case "<", "<=": outcome = .belowLimit
            case ">", ">=": outcome = .aboveLimit
            default: throw RecordError(code: .recordBadFormat, message: "comparator is not <, <=, > or >=")
            }
            if outcome == .belowLimit {
                detected = interpretation.contains("DET") ? true : (interpretation.contains("ND") ? false : nil)
            }
        } else if let concept = Self.path(obs, "valueCodeableConcept") {
            let codes = concept.children("coding", namespace: LabImporter.fhirNS).compactMap { Self.value($0, "code") }
            guard codes.contains("260415000") || interpretation.contains("ND") else {
                throw RecordError(
                    code: .recordUnrecognisedResult, message: "coded value is not 'not detected' (SNOMED 260415000)")
            }
            outcome = .notDetected
            detected = false
        } else if let s = Self.value(obs, "valueString") {
            do throws(ResultNormalizer.Failure) {
                let n = try ResultNormalizer.normalize(s)
                outcome = n.outcome
                value = n.value
                detected = n.detected
                failure = n.failureCode
                if let u = n.unit { unit = u }
            } catch {
                switch error {
                case .badFormat(let m): throw RecordError(code: .recordBadFormat, message: m)
                case .unrecognised(let m): throw RecordError(code: .recordUnrecognisedResult, message: m)
                }
            }
        } else {
            throw RecordError(
                code: .recordMissingField, message: "the Observation has no value and no dataAbsentReason")
        }
        // A log10 value becomes copies/mL.
        var limit: Double? = nil
        var reported = value
        if isLog, let v = value {
            guard v >= 0, v <= 9 else {
                throw RecordError(
                    code: v < 0 ? .recordNegativeValue : .recordValueOutOfRange,
                    message: "log10 value \(v) is out of range")
            }
            var copies = pow(10, v)
            if let lloq = assay?.lloq, outcome == .belowLimit, abs(v - log10(lloq)) <= 0.01 { copies = lloq }
            reported = copies
            value = copies
            unit = .copies
        }
        if outcome != .quantified { limit = value }
        try RecordChecks.validate(
            value: outcome == .quantified ? value : nil, limit: limit, log10: nil, dilution: nil, unit: unit,
            assay: assay, outcome: outcome,
            collected: collected, resulted: resulted, runCompleted: nil, now: options.now)
        var r = HIVRNAResult(
            id: id, patient: patient, specimen: specimen, specimenType: nil, collected: collected, resulted: resulted,
            status: status, replaces: nil,
            outcome: outcome, reportedValue: reported, reportedUnit: unit, copies: nil, log10: nil, limit: nil,
            detected: detected, assay: assay, dilution: nil,
            failureCode: failure, reason: reason, instrumentText: nil, comment: nil, warnings: [], line: obs.line,
            format: "fhir")
        if outcome == .notDetected { limit = assay?.lod ?? assay?.lloq }
        if outcome != .failed && outcome != .notPerformed {
            RecordChecks.quantities(
                &r, value: value ?? limit, unit: unit ?? .copies, assay: assay ?? (unit == .iu ? nil : nil))
            if unit == .iu && assay?.iuPerCopy == nil {
                r.copies = nil
                r.log10 = nil
            }
        }
        if outcome == .notDetected {
            r.copies = nil
            r.log10 = nil
            r.limit = limit
            if limit == nil { r.warnings.append("W-NO-LIMIT: not detected without a known assay limit") }
        }
        return .result(r, isLog: isLog, issued: resulted?.epochSeconds ?? 0)
    }
}
