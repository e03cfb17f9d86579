import CytoModel
import Foundation
import SafeXML

/// Vendor XML read through a `MappingProfile`: one record element per result row.
struct ProfileFormat: LabFormatHandler {
    let profile: MappingProfile
    let options: LabImportOptions
    let formatter: DateFormatter
    let zone: TimeZone
    var rows: [(HIVRNAResult, isLog: Bool)] = []
    var ids = Set<String>()

    init(profile: MappingProfile, options: LabImportOptions) {
        self.profile = profile
        self.options = options
        zone = TimeZone(identifier: profile.timeZone) ?? TimeZone(secondsFromGMT: 0)!
        formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = profile.dateFormat
        formatter.isLenient = false
    }

    func opensScope(_ name: String, _ ns: String?) -> Bool { false }
    mutating func enterScope(_ name: String, _ attrs: [XMLAttribute], line: Int) throws(LabFileError) {}
    mutating func leaveScope() {}

    mutating func element<S: LabResultSink>(
        _ node: XMLNode, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) {
        guard node.localName == profile.recordElement, node.namespace == nil else {
            report.warnings.append("line \(node.line): element \(node.localName) ignored")
            return
        }
        func field(_ name: String?) -> String? {
            guard let name else { return nil }
            let v = node.child(name)?.text.trimmed
            return v?.isEmpty == true ? nil : v
        }
        let specimen = field(profile.fields.specimen)
        let test = field(profile.fields.testCode) ?? ""
        let id = field(profile.fields.resultID) ?? "\(specimen ?? "line\(node.line)")/\(test)"
        guard let kind = profile.testCodes[test] else {
            report.skipped.append("\(id): test \(test) is not HIV-1 RNA")
            return
        }
        guard ids.insert(id).inserted else {
            throw LabFileError(
                code: .xmlDuplicateID, message: "result \(id) appears twice in the file", line: node.line)
        }
        do throws(RecordError) {
            if let r = try row(node, id: id, kind: kind, field: field) {
                rows.append((r, kind == .log10))
            } else {
                report.skipped.append("\(id): preliminary result ignored until a final arrives")
            }
        } catch {
            report.rejected.append(RejectedRecord(id: id, code: error.code, message: error.message, line: node.line))
        }
    }

    func date(_ s: String, field: String) throws(RecordError) -> LabTimestamp {
        guard let d = formatter.date(from: s) else {
            throw RecordError(
                code: .recordBadFormat, message: "\(field) '\(s.prefix(30))' does not match \(profile.dateFormat)")
        }
        return LabTimestamp.from(date: d, zone: zone, text: s)
    }

    func row(
        _ node: XMLNode, id: String, kind: MappingProfile.TestKind, field: (String?) -> String?
    ) throws(RecordError) -> HIVRNAResult? {
        for (name, path) in [
            ("patient", profile.fields.patient), ("specimen", profile.fields.specimen),
            ("collected", profile.fields.collected), ("result", profile.fields.result),
        ]
        where field(path) == nil
            && !(name == "result" && field(profile.fields.status).flatMap { profile.statusMap[$0] } == .cancelled)
        {
            throw RecordError(code: .recordMissingField, message: "\(name) (\(path)) is missing")
        }
        let statusCode = field(profile.fields.status) ?? "F"
        guard let status = profile.statusMap[statusCode] else {
            throw RecordError(
                code: .recordBadFormat, message: "status '\(statusCode.prefix(10))' is not in the profile's status map")
        }
        if status == .preliminary { return nil }
        let collected = try date(field(profile.fields.collected)!, field: "collected")
        let resulted = try field(profile.fields.resulted).map { s throws(RecordError) in try date(s, field: "resulted")
        }
        let analyzer = field(profile.fields.analyzer).flatMap { profile.analyzers[$0] }
        var assay: AssayInfo? = nil
        if let a = analyzer {
            // Analyzer limits are in copies/mL; IU results are range-checked in IU.
            let toUnit = kind == .iu ? (a.iuPerCopy ?? 1) : 1
            assay = AssayInfo(
                id: field(profile.fields.analyzer)!, name: a.name, unit: kind == .iu ? .iu : .copies, lod: a.lod,
                lloq: a.lloq.map { $0 * toUnit },
                uloq: a.uloq.map { $0 * toUnit }, iuPerCopy: a.iuPerCopy, provenance: "profile \(profile.name)")
        }
        let patient = field(profile.fields.patient)!
        if let enrolled = options.enrolledPatients, !enrolled.contains(patient) {
            throw RecordError(code: .recordUnknownPatient, message: "the patient is not enrolled in the registry")
        }
        var r = HIVRNAResult(
            id: id, patient: patient, specimen: field(profile.fields.specimen)!, specimenType: nil,
            collected: collected, resulted: resulted,
            status: status, replaces: nil, outcome: .notPerformed, reportedValue: nil, reportedUnit: nil, copies: nil,
            log10: nil, limit: nil,
            detected: nil, assay: assay, dilution: nil, failureCode: nil, reason: nil,
            instrumentText: field(profile.fields.result), comment: nil,
            warnings: [], line: node.line, format: "profile:\(profile.name)")
        if analyzer == nil {
            r.warnings.append("W-UNKNOWN-ANALYZER: no assay for analyzer \(field(profile.fields.analyzer) ?? "(none)")")
        }
        if status == .cancelled {
            r.reason = field(profile.fields.result) ?? "cancelled"
            return r
        }
        let n: NormalizedString
        do throws(ResultNormalizer.Failure) {
            n = try ResultNormalizer.normalize(field(profile.fields.result)!)
        } catch {
            switch error {
            case .badFormat(let m): throw RecordError(code: .recordBadFormat, message: m)
            case .unrecognised(let m): throw RecordError(code: .recordUnrecognisedResult, message: m)
            }
        }
        r.outcome = n.outcome
        r.detected = n.detected
        r.failureCode = n.failureCode
        if n.outcome == .failed || n.outcome == .notPerformed { return r }
        var value = n.value
        var unit: ConcentrationUnit = kind == .iu ? .iu : (n.unit ?? .copies)
        if kind == .log10 || n.form == .log10 {
            if let v = value {
                guard v >= 0, v <= 9 else {
                    throw RecordError(
                        code: v < 0 ? .recordNegativeValue : .recordValueOutOfRange,
                        message: "log10 value \(v) is out of range")
                }
                var copies = pow(10, v)
                if n.outcome == .belowLimit, let lloq = analyzer?.lloq, abs(v - log10(lloq)) <= 0.01 { copies = lloq }
                value = copies
            }
            unit = .copies
        }
        let limitUnit = unit
        if n.outcome == .notDetected { value = analyzer?.lod ?? analyzer?.lloq }
        try RecordChecks.validate(
            value: n.outcome == .quantified ? value : nil, limit: n.outcome == .quantified ? nil : value, log10: nil,
            dilution: nil, unit: unit,
            assay: kind == .log10
                ? assay.map {
                    var a = $0; a.unit = .copies; return a
                } : assay, outcome: n.outcome, collected: collected,
            resulted: resulted, runCompleted: nil, now: options.now)
        r.reportedValue = value
        r.reportedUnit = unit
        RecordChecks.quantities(
            &r, value: value, unit: limitUnit,
            assay: assay.map {
                var a = $0; a.unit = limitUnit; return a
            })
        if n.outcome == .notDetected {
            r.copies = nil
            r.log10 = nil
        }
        if n.outcome != .quantified {
            r.limit = value.flatMap { v in unit == .iu ? analyzer?.iuPerCopy.map { v / $0 } : v }
        }
        return r
    }

    mutating func finish<S: LabResultSink>(into report: inout LabFileReport, sink: inout S) throws(LabFileError) {
        var staged: [HIVRNAResult] = []
        for (r, isLog) in rows where !isLog { staged.append(r) }
        for (c, isLog) in rows where isLog {
            if let p = staged.first(where: { $0.patient == c.patient && $0.specimen == c.specimen }) {
                if let pl = p.log10, let cl = c.log10, p.outcome == c.outcome, abs(pl - cl) > 0.01 {
                    report.rejected.append(
                        RejectedRecord(
                            id: c.id, code: .recordLogMismatch,
                            message:
                                "log10 companion \(String(format: "%.2f", cl)) does not match \(String(format: "%.3f", pl))",
                            line: c.line))
                } else {
                    report.skipped.append("\(c.id): log10 companion merged into \(p.id)")
                }
            } else {
                staged.append(c)
            }
        }
        for r in staged.sorted(by: { $0.line < $1.line }) {
            do { try sink.stage(r) } catch { throw LabFileError(code: .stage, message: "\(error)") }
        }
    }
}
