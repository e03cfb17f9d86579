import CytoModel
import Foundation
import SafeXML

/// Vendor XML read through a `MappingProfile`: one record element per result row.
struct ProfileFormat: LabFormatHandler {
    let compiled: CompiledProfile
    var profile: MappingProfile { compiled.profile }
    let options: LabImportOptions
    let formatter: DateFormatter?
    let dateOnly: Bool
    let zone: TimeZone
    /// Attributes of the open elements on the record path, root first.
    var ancestors: [[XMLAttribute]] = []
    var rows: [(HIVRNAResult, isLog: Bool)] = []
    var ids = Set<String>()
    /// Record elements seen, and those whose fields the profile could read (a result, a
    /// preliminary skip, or a data error such as an out-of-range value or an unknown patient).
    var recordsSeen = 0
    var recordsMapped = 0
    /// Why records did not map, first few (for the file's rejection message).
    var unmappedReasons: [String] = []

    /// Record codes that mean the profile could not read the record (not that its data are bad).
    static let mappingCodes: Set<RejectionCode> = [
        .recordMissingField, .recordBadFormat, .recordUnrecognisedResult, .recordUnit,
    ]

    init(compiled: CompiledProfile, options: LabImportOptions, rootAttributes: [XMLAttribute]) {
        self.compiled = compiled
        self.options = options
        let profile = compiled.profile
        zone = TimeZone(identifier: profile.timeZone) ?? TimeZone(secondsFromGMT: 0)!
        if profile.dateFormat.lowercased() == "iso8601" {
            formatter = nil
            dateOnly = false
        } else {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = zone
            f.dateFormat = profile.dateFormat
            f.isLenient = false
            formatter = f
            // A pattern without hours, minutes or seconds gives dates, not instants.
            dateOnly = !profile.dateFormat.contains(where: { "HhKkmsSaA".contains($0) })
        }
        ancestors = [rootAttributes]
    }

    func opensScope(_ name: String, _ ns: String?) -> Bool {
        let path = profile.pathElements
        return ns == nil && ancestors.count < path.count - 1 && name == path[ancestors.count]
    }

    mutating func enterScope(_ name: String, _ attrs: [XMLAttribute], line: Int) throws(LabFileError) {
        ancestors.append(attrs)
    }

    mutating func leaveScope() { ancestors.removeLast() }

    mutating func element<S: LabResultSink>(
        _ node: XMLNode, report: inout LabFileReport, sink: inout S
    ) throws(LabFileError) {
        guard ancestors.count == profile.pathElements.count - 1, node.localName == profile.recordElement,
            node.namespace == nil
        else {
            report.warnings.append(
                "line \(node.line): element \(node.localName) is not on \(profile.recordPath): ignored")
            return
        }
        recordsSeen += 1
        let paths = compiled.paths
        func field(_ name: String) -> String? {
            guard let path = paths[name] else { return nil }
            return value(path, node)
        }
        let specimen = field("specimen")
        let test = field("testCode") ?? profile.constants?.testCode ?? ""
        let id = field("resultID") ?? "\(specimen ?? "line\(node.line)")/\(test)"
        guard let kind = profile.testCodes[test] else {
            let why = test.isEmpty ? "no test code" : "test \(test.prefix(30)) is not HIV-1 RNA (not in testCodes)"
            report.skipped.append(SkippedRecord(id: id, line: node.line, reason: why))
            noteUnmapped("line \(node.line): \(why)")
            return
        }
        guard ids.insert(id).inserted else {
            throw LabFileError(
                code: .xmlDuplicateID, message: "result \(id) appears twice in the file", line: node.line)
        }
        do throws(RecordError) {
            let r = try row(node, id: id, kind: kind, field: field)
            recordsMapped += 1
            if let r {
                rows.append((r, kind == .log10))
            } else {
                report.skipped.append(
                    SkippedRecord(id: id, line: node.line, reason: "preliminary result ignored until a final arrives"))
            }
        } catch {
            if Self.mappingCodes.contains(error.code) {
                noteUnmapped("line \(node.line): \(error.code) \(error.message)")
            } else {
                recordsMapped += 1
            }
            report.rejected.append(RejectedRecord(id: id, code: error.code, message: error.message, line: node.line))
        }
    }

    mutating func noteUnmapped(_ s: String) {
        if unmappedReasons.count < 3 { unmappedReasons.append(s) }
    }

    /// The value a path addresses, trimmed; nil when absent or empty.
    func value(_ path: FieldPath, _ node: XMLNode) -> String? {
        var v: String?
        if path.up > 0 {
            let a = ancestors[ancestors.count - path.up]
            v = a.first { $0.localName == path.attribute! && $0.namespace == nil }?.value
        } else {
            var n = node
            for step in path.steps {
                guard let c = n.child(step) else { return nil }
                n = c
            }
            v =
                path.attribute.map { a in n.attributes.first { $0.localName == a && $0.namespace == nil }?.value }
                ?? n.text
        }
        let t = v?.trimmed
        return t?.isEmpty == true ? nil : t
    }

    func date(_ s: String, field: String) throws(RecordError) -> LabTimestamp {
        guard let formatter else {
            guard let t = LabTimestamp.parseISO(s, requireZone: false) else {
                throw RecordError(code: .recordBadFormat, message: "\(field) '\(s.prefix(30))' is not an ISO 8601 date")
            }
            return t
        }
        guard let d = formatter.date(from: s) else {
            throw RecordError(
                code: .recordBadFormat, message: "\(field) '\(s.prefix(30))' does not match \(profile.dateFormat)")
        }
        if dateOnly {
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = zone
            let p = cal.dateComponents([.year, .month, .day], from: d)
            let days = CivilDate.days(year: p.year!, month: p.month!, day: p.day!)
            return LabTimestamp(epochSeconds: Int64(days) * 86400, localDays: days, hasTime: false, text: s)
        }
        return LabTimestamp.from(date: d, zone: zone, text: s)
    }

    /// Where each limit came from: the file, the profile, or the analyzer table (in that order).
    struct ResolvedLimits {
        var lod: Double?
        var lloq: Double?
        var uloq: Double?
        var iuPerCopy: Double?
        var sources: [String] = []
    }

    func limits(
        field: (String) -> String?, analyzer: (key: String, MappingProfile.Analyzer)?
    ) throws(RecordError)
        -> ResolvedLimits
    {
        var out = ResolvedLimits()
        func pick(_ name: String, profile p: Double?, analyzer a: Double?) throws(RecordError) -> Double? {
            if let text = field(name) {
                let v = try RecordChecks.number(text, field: name)
                guard v.isFinite, v > 0 else {
                    throw RecordError(
                        code: .recordValueOutOfRange, message: "\(name) \(text.prefix(20)) is not positive")
                }
                out.sources.append("\(name) from the file")
                return v
            }
            if let p {
                out.sources.append("\(name) from the profile")
                return p
            }
            if let a, let key = analyzer?.key {
                out.sources.append("\(name) from analyzer \(key)")
                return a
            }
            return nil
        }
        let p = profile.limits
        let a = analyzer?.1
        out.lod = try pick("lod", profile: p?.lod, analyzer: a?.lod)
        out.lloq = try pick("lloq", profile: p?.lloq, analyzer: a?.lloq)
        out.uloq = try pick("uloq", profile: p?.uloq, analyzer: a?.uloq)
        out.iuPerCopy = p?.iuPerCopy ?? a?.iuPerCopy
        return out
    }

    func row(
        _ node: XMLNode, id: String, kind: MappingProfile.TestKind, field: (String) -> String?
    ) throws(RecordError) -> HIVRNAResult? {
        let statusText = field("status") ?? profile.constants?.status ?? "final"
        guard let status = profile.status(statusText) else {
            throw RecordError(
                code: .recordBadFormat,
                message: "status '\(statusText.prefix(20))' is not in the profile's statusMap nor a canonical status")
        }
        if status == .preliminary { return nil }
        // The qualifier, read through the profile's map.
        var qualified: ViralLoadOutcome? = nil
        if let q = field("qualifier") {
            let map = profile.qualifierMap ?? [:]
            guard let o = map[q] ?? map.first(where: { $0.key.lowercased() == q.lowercased() })?.value else {
                throw RecordError(
                    code: .recordBadFormat,
                    message:
                        "qualifier '\(q.prefix(20))' is not in the profile's qualifierMap (\(map.keys.sorted().joined(separator: ", ")))"
                )
            }
            qualified = o
        }
        let resultText = field("result")
        let censoredByQualifier =
            qualified.map { [.belowLimit, .aboveLimit, .notDetected, .failed].contains($0) } ?? false
        for name in ["patient", "collected"] where field(name) == nil {
            throw RecordError(code: .recordMissingField, message: "\(name) (\(profile.fieldText(name))) is missing")
        }
        if resultText == nil && status != .cancelled && !censoredByQualifier {
            throw RecordError(code: .recordMissingField, message: "result (\(profile.fieldText("result"))) is missing")
        }
        let collected = try date(field("collected")!, field: "collected")
        let resulted = try field("resulted").map { s throws(RecordError) in try date(s, field: "resulted") }
        // Assay: the analyzer table entry, the file's or profile's assay name, the limits.
        let analyzerKey = field("analyzer") ?? profile.constants?.analyzer
        let analyzer = analyzerKey.flatMap { k in profile.analyzers?[k].map { (key: k, $0) } }
        let limits = try limits(field: field, analyzer: analyzer)
        // Units: the result text's, else the unit field's, else the test code's.
        var declared: ConcentrationUnit? = nil
        if let u = field("unit") ?? profile.constants?.unit {
            guard let cu = ResultNormalizer.unit(in: u).unit else {
                throw RecordError(code: .recordUnit, message: "unit '\(u.prefix(20))' is not copies/mL, IU/mL or Eq/mL")
            }
            declared = cu
        }
        if kind == .iu && declared != nil && declared != .iu {
            throw RecordError(
                code: .recordUnit, message: "the test code is in IU/mL but the unit says \(declared!.rawValue)")
        }
        let assayName = field("assay") ?? profile.constants?.assay ?? analyzer?.1.name
        var assay: AssayInfo? = nil
        if assayName != nil || limits.lloq != nil || limits.uloq != nil || limits.lod != nil {
            let unit: ConcentrationUnit = kind == .iu ? .iu : (declared ?? .copies)
            // Analyzer-table limits are in copies/mL; IU results are range-checked in IU.
            let toUnit = unit == .iu ? (limits.iuPerCopy ?? 1) : 1
            func scaled(_ v: Double?, _ name: String) -> Double? {
                guard let v else { return nil }
                return limits.sources.contains("\(name) from the file") ? v : v * toUnit
            }
            assay = AssayInfo(
                id: analyzerKey ?? assayName ?? profile.name, name: assayName ?? "profile \(profile.name)", unit: unit,
                lod: scaled(limits.lod, "lod"), lloq: scaled(limits.lloq, "lloq"), uloq: scaled(limits.uloq, "uloq"),
                iuPerCopy: limits.iuPerCopy,
                provenance: "profile \(profile.name)"
                    + (limits.sources.isEmpty ? "" : ": " + limits.sources.joined(separator: ", ")))
        }
        let patient = field("patient")!
        if let enrolled = options.enrolledPatients, !enrolled.contains(patient) {
            throw RecordError(code: .recordUnknownPatient, message: "the patient is not enrolled in the registry")
        }
        var r = HIVRNAResult(
            id: id, patient: patient, specimen: field("specimen") ?? id, specimenType: nil,
            collected: collected, resulted: resulted,
            status: status, replaces: nil, outcome: .notPerformed, reportedValue: nil, reportedUnit: nil, copies: nil,
            log10: nil, limit: nil,
            detected: nil, assay: assay, dilution: nil, failureCode: nil, reason: nil,
            instrumentText: resultText, comment: nil,
            warnings: [], line: node.line, format: "profile:\(profile.name)")
        if assay == nil || (assay?.lloq == nil && assay?.uloq == nil) {
            r.warnings.append(
                "W-UNKNOWN-ANALYZER: no assay limits (analyzer \(analyzerKey ?? "(none)"); give lloq/uloq in the file, the profile's limits or the analyzer table)"
            )
        }
        if status == .cancelled {
            r.reason = resultText ?? "cancelled"
            return r
        }
        let (n, fromLimit) = try classify(resultText, qualifier: qualified, assay: assay)
        r.outcome = n.outcome
        r.detected = n.detected
        r.failureCode = n.failureCode
        if n.outcome == .failed || n.outcome == .notPerformed { return r }
        var value = n.value
        var unit: ConcentrationUnit = n.unit ?? (kind == .iu ? .iu : (declared ?? .copies))
        if kind == .iu && unit != .iu {
            throw RecordError(
                code: .recordUnit, message: "the test code is in IU/mL but the result is in \(unit.rawValue)")
        }
        if (kind == .log10 || n.form == .log10) && !fromLimit {
            if let v = value {
                guard v >= 0, v <= 9 else {
                    throw RecordError(
                        code: v < 0 ? .recordNegativeValue : .recordValueOutOfRange,
                        message: "log10 value \(v) is out of range")
                }
                var copies = pow(10, v)
                if n.outcome == .belowLimit, let lloq = assay?.lloq, abs(v - log10(lloq)) <= 0.01 { copies = lloq }
                value = copies
            }
            unit = .copies
        }
        let limitUnit = unit
        let checkedAssay = assay.map {
            var a = $0
            a.unit = unit
            return a
        }
        try RecordChecks.validate(
            value: n.outcome == .quantified ? value : nil, limit: n.outcome == .quantified ? nil : value, log10: nil,
            dilution: nil, unit: unit, assay: checkedAssay, outcome: n.outcome, collected: collected,
            resulted: resulted, runCompleted: nil, now: options.now)
        r.reportedValue = value
        r.reportedUnit = unit
        RecordChecks.quantities(&r, value: value, unit: limitUnit, assay: checkedAssay)
        if n.outcome == .notDetected {
            r.copies = nil
            r.log10 = nil
        }
        if n.outcome != .quantified {
            r.limit = value.flatMap { v in unit == .iu ? assay?.iuPerCopy.map { v / $0 } : v }
        }
        if n.outcome == .belowLimit, let l = value, let lloq = checkedAssay?.lloq, l != lloq {
            r.warnings.append(
                "W-LIMIT-MISMATCH: limit \(formatShort(l)) differs from the assay LLOQ \(formatShort(lloq))")
        }
        if n.outcome == .aboveLimit, let l = value, let uloq = checkedAssay?.uloq, l != uloq {
            r.warnings.append(
                "W-LIMIT-MISMATCH: limit \(formatShort(l)) differs from the assay ULOQ \(formatShort(uloq))")
        }
        return r
    }

    /// The outcome and value of a result text, with the qualifier (when the file has one) saying
    /// which side of a limit the number is on. A censored outcome without a number takes the
    /// assay's limit (in the assay's unit): below -> LLOQ, above -> ULOQ, not detected -> LOD,
    /// else LLOQ; `fromLimit` says so (that value is never a log10).
    func classify(
        _ text: String?, qualifier: ViralLoadOutcome?, assay: AssayInfo?
    ) throws(RecordError)
        -> (NormalizedString, fromLimit: Bool)
    {
        var n: NormalizedString? = nil
        if let text {
            do throws(ResultNormalizer.Failure) {
                n = try ResultNormalizer.normalize(text)
            } catch {
                // A failure code as the text of a "failed" qualifier is that code.
                if qualifier == .failed {
                    return (
                        NormalizedString(
                            outcome: .failed, value: nil, form: .concentration, unit: nil, detected: nil,
                            failureCode: String(text.prefix(40))), false
                    )
                }
                switch error {
                case .badFormat(let m): throw RecordError(code: .recordBadFormat, message: m)
                case .unrecognised(let m): throw RecordError(code: .recordUnrecognisedResult, message: m)
                }
            }
        }
        guard let q = qualifier else {
            var out = n!
            if out.outcome == .notDetected && out.value == nil, let l = assay?.lod ?? assay?.lloq {
                out.value = l
                return (out, true)
            }
            return (out, false)
        }
        if let found = n, found.outcome != .quantified, found.outcome != q {
            throw RecordError(
                code: .recordBadFormat,
                message: "the qualifier says \(q.rawValue) but the result text says \(found.outcome.rawValue)")
        }
        var out =
            n
            ?? NormalizedString(
                outcome: q, value: nil, form: .concentration, unit: nil, detected: nil, failureCode: nil)
        out.outcome = q
        let hadValue = out.value != nil
        switch q {
        case .quantified: out.detected = true
        case .belowLimit:
            out.value = out.value ?? assay?.lloq
            out.detected = n?.detected
        case .aboveLimit:
            out.value = out.value ?? assay?.uloq
            out.detected = true
        case .notDetected:
            out.value = out.value ?? assay?.lod ?? assay?.lloq
            out.detected = false
        case .failed:
            out.value = nil
            out.failureCode = out.failureCode ?? text.map { String($0.prefix(40)) } ?? "FAILED"
        case .notPerformed: break
        }
        if [.belowLimit, .aboveLimit].contains(q) && out.value == nil {
            throw RecordError(
                code: .recordMissingField,
                message:
                    "a \(q.rawValue) result needs its limit: a number in the result or the lloq/uloq (file, profile or analyzer)"
            )
        }
        return (out, !hadValue && out.value != nil)
    }

    mutating func finish<S: LabResultSink>(into report: inout LabFileReport, sink: inout S) throws(LabFileError) {
        guard recordsMapped > 0 else {
            let what =
                recordsSeen == 0
                ? "no element matches the record path \(profile.recordPath)"
                : "none of its \(recordsSeen) record(s) maps through the profile: "
                    + unmappedReasons.joined(separator: "; ") + (recordsSeen > unmappedReasons.count ? "; ..." : "")
            throw LabFileError(code: .labNothingMapped, message: "profile \(profile.name): \(what)")
        }
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
                    report.skipped.append(
                        SkippedRecord(id: c.id, line: c.line, reason: "log10 companion merged into \(p.id)"))
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

extension MappingProfile {
    /// A field's path or constant as configured, for messages.
    func fieldText(_ name: String) -> String {
        fields.named.first { $0.name == name }?.path ?? "not configured"
    }
}
