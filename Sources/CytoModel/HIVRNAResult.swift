import Foundation

/// Canonical outcome of a viral-load result (domain.md section 3).
public enum ViralLoadOutcome: String, Sendable, Hashable, Codable {
    case quantified
    case belowLimit = "below_limit"
    case notDetected = "not_detected"
    case aboveLimit = "above_limit"
    case failed
    case notPerformed = "not_performed"

    /// The censoring code; nil for failed and not performed.
    public var censor: Censor? {
        switch self {
        case .quantified: Censor.none
        case .belowLimit: .lt
        case .notDetected: .nd
        case .aboveLimit: .gt
        case .failed, .notPerformed: nil
        }
    }
}

public enum Censor: String, Sendable, Hashable, Codable {
    case none, lt, nd, gt
}

/// Result status (neutral format, FHIR Observation.status).
public enum ResultStatus: String, Sendable, Hashable, Codable {
    case preliminary, final, corrected, amended, cancelled
    case enteredInError = "entered-in-error"
}

/// The concentration unit as reported.
public enum ConcentrationUnit: String, Sendable, Hashable, Codable {
    case copies = "copies/mL"
    case iu = "IU/mL"
    /// First-generation bDNA equivalents: read as copies/mL, flagged.
    case equivalents = "Eq/mL"
}

/// An HIV-1 RNA assay with its limits and IU factor, and where those numbers come from.
public struct AssayInfo: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var unit: ConcentrationUnit
    public var lod: Double?
    public var lloq: Double?
    public var uloq: Double?
    /// IU per copy (copies = IU / iuPerCopy); nil when the assay predates the IU.
    public var iuPerCopy: Double?
    public var provenance: String

    public init(
        id: String, name: String, unit: ConcentrationUnit, lod: Double? = nil, lloq: Double?, uloq: Double?,
        iuPerCopy: Double?, provenance: String
    ) {
        self.id = id
        self.name = name
        self.unit = unit
        self.lod = lod
        self.lloq = lloq
        self.uloq = uloq
        self.iuPerCopy = iuPerCopy
        self.provenance = provenance
    }

    /// Converts a value in `unit` to copies/mL; nil when IU cannot be converted.
    public func copies(_ value: Double, unit: ConcentrationUnit) -> Double? {
        switch unit {
        case .copies, .equivalents: value
        case .iu: iuPerCopy.map { value / $0 }
        }
    }
}

/// A date or date-time as reported. `epochSeconds` orders instants (date-only values count
/// as midnight UTC of that date); `localDays` is the civil date as written (days since 1970),
/// which is what month windows use.
public struct LabTimestamp: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var epochSeconds: Int64
    public var localDays: Int
    public var hasTime: Bool
    public var text: String

    public static func < (a: LabTimestamp, b: LabTimestamp) -> Bool { a.epochSeconds < b.epochSeconds }
    public var description: String { text }

    /// ISO date `yyyy-mm-dd` of the local civil date.
    public var isoDate: String { CivilDate.iso(localDays) }

    /// Parses `yyyy-mm-dd`, or `yyyy-mm-ddThh:mm[:ss[.fff]](Z|±hh:mm)`; a date-time without a
    /// zone is accepted only when `requireZone` is false (then read as UTC).
    public static func parseISO(_ s: String, requireZone: Bool = true) -> LabTimestamp? {
        let t = s.trimmed
        return parseISO(bytes: t.utf8.span, text: t, requireZone: requireZone)
    }

    private static func parseISO(bytes b: Span<UInt8>, text t: String, requireZone: Bool) -> LabTimestamp? {
        func num(_ r: Range<Int>) -> Int? {
            guard r.upperBound <= b.count, r.allSatisfy({ b[$0] >= 48 && b[$0] <= 57 }) else { return nil }
            return r.reduce(0) { $0 * 10 + Int(b[$1] - 48) }
        }
        guard b.count >= 10, let y = num(0..<4), b[4] == 45, let mo = num(5..<7), b[7] == 45, let d = num(8..<10),
            (1...12).contains(mo),
            d >= 1, d <= CivilDate.daysInMonth(year: y, month: mo)
        else { return nil }
        let day = CivilDate.days(year: y, month: mo, day: d)
        if b.count == 10 {
            return LabTimestamp(epochSeconds: Int64(day) * 86400, localDays: day, hasTime: false, text: t)
        }
        guard b.count >= 16, b[10] == 84 || b[10] == 116, let hh = num(11..<13), b[13] == 58, let mm = num(14..<16),
            hh < 24, mm < 60
        else { return nil }
        var i = 16
        var ss = 0
        if i < b.count && b[i] == 58 {
            guard let s2 = num(17..<19), s2 < 61 else { return nil }
            ss = s2
            i = 19
            if i < b.count && b[i] == 46 {
                i += 1
                let start = i
                while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
                if i == start { return nil }
            }
        }
        var offset = 0
        if i == b.count {
            if requireZone { return nil }
        } else if b[i] == 90 && i + 1 == b.count {
            offset = 0
        } else if (b[i] == 43 || b[i] == 45) && b.count == i + 6, let oh = num((i + 1)..<(i + 3)), b[i + 3] == 58,
            let om = num((i + 4)..<(i + 6)), oh < 24, om < 60
        {
            offset = (b[i] == 45 ? -1 : 1) * (oh * 60 + om)
        } else {
            return nil
        }
        let local = Int64(day) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
        return LabTimestamp(epochSeconds: local - Int64(offset * 60), localDays: day, hasTime: true, text: t)
    }

    /// From a Foundation date and the zone it was written in.
    public static func from(date: Date, zone: TimeZone, text: String) -> LabTimestamp {
        let secs = Int64(date.timeIntervalSince1970.rounded())
        let local = secs + Int64(zone.secondsFromGMT(for: date))
        let days = Int((Double(local) / 86400).rounded(.down))
        return LabTimestamp(epochSeconds: secs, localDays: days, hasTime: true, text: text)
    }

    public init(epochSeconds: Int64, localDays: Int, hasTime: Bool, text: String) {
        self.epochSeconds = epochSeconds
        self.localDays = localDays
        self.hasTime = hasTime
        self.text = text
    }
}

/// One HIV-1 RNA result, normalised.
public struct HIVRNAResult: Sendable, Hashable, Codable {
    /// The result id (neutral `Result/@id`, FHIR identifier value, mapped accession/test).
    public var id: String
    public var patient: String
    public var specimen: String
    public var specimenType: String?
    public var collected: LabTimestamp
    public var resulted: LabTimestamp?
    public var status: ResultStatus
    /// Id of the result a correction supersedes.
    public var replaces: String?
    public var outcome: ViralLoadOutcome
    /// The value as reported, in `reportedUnit` (quantified), or the limit for censored outcomes.
    public var reportedValue: Double?
    public var reportedUnit: ConcentrationUnit?
    /// copies/mL: the value (quantified) or the limit (censored), when convertible.
    public var copies: Double?
    public var log10: Double?
    /// The limit in copies/mL for censored outcomes (lt, nd, gt).
    public var limit: Double?
    /// For below-limit results: detected (true), not detected (false), unknown (nil).
    public var detected: Bool?
    public var assay: AssayInfo?
    public var dilution: Double?
    public var failureCode: String?
    /// Why not performed, or the failure message.
    public var reason: String?
    public var instrumentText: String?
    public var comment: String?
    public var warnings: [String]
    /// Line of the record in its file.
    public var line: Int
    public var format: String

    public var censor: Censor? { outcome.censor }

    public init(
        id: String, patient: String, specimen: String, specimenType: String? = nil, collected: LabTimestamp,
        resulted: LabTimestamp? = nil, status: ResultStatus, replaces: String? = nil, outcome: ViralLoadOutcome,
        reportedValue: Double? = nil, reportedUnit: ConcentrationUnit? = nil, copies: Double? = nil,
        log10: Double? = nil, limit: Double? = nil, detected: Bool? = nil, assay: AssayInfo? = nil,
        dilution: Double? = nil, failureCode: String? = nil, reason: String? = nil, instrumentText: String? = nil,
        comment: String? = nil, warnings: [String], line: Int, format: String
    ) {
        self.id = id
        self.patient = patient
        self.specimen = specimen
        self.specimenType = specimenType
        self.collected = collected
        self.resulted = resulted
        self.status = status
        self.replaces = replaces
        self.outcome = outcome
        self.reportedValue = reportedValue
        self.reportedUnit = reportedUnit
        self.copies = copies
        self.log10 = log10
        self.limit = limit
        self.detected = detected
        self.assay = assay
        self.dilution = dilution
        self.failureCode = failureCode
        self.reason = reason
        self.instrumentText = instrumentText
        self.comment = comment
        self.warnings = warnings
        self.line = line
        self.format = format
    }
}

/// A record quarantined by the importer.
public struct RejectedRecord: Sendable, Hashable, Codable {
    public var id: String?
    public var code: RejectionCode
    public var message: String
    public var line: Int?

    public init(id: String? = nil, code: RejectionCode, message: String, line: Int? = nil) {
        self.id = id
        self.code = code
        self.message = message
        self.line = line
    }
}

/// A record left out on purpose (another test, a preliminary result, a merged companion), with
/// where it is and why.
public struct SkippedRecord: Sendable, Hashable, Codable, CustomStringConvertible {
    public var id: String?
    public var line: Int?
    public var reason: String
    public var description: String { "\(id ?? "?")\(line.map { " (line \($0))" } ?? ""): \(reason)" }

    public init(id: String?, line: Int?, reason: String) {
        self.id = id
        self.line = line
        self.reason = reason
    }
}

/// A file-level refusal.
public struct LabFileError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: RejectionCode
    public var message: String
    public var line: Int?
    public var description: String { "\(message) [\(code)\(line.map { ", line \($0)" } ?? "")]" }

    public init(code: RejectionCode, message: String, line: Int? = nil) {
        self.code = code
        self.message = message
        self.line = line
    }
}

/// What importing one file gave. Results are valid only when `status` is not `.rejected`:
/// a streaming caller must discard everything it received from a rejected file.
public struct LabFileReport: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case accepted, partial, rejected }
    public var file: String
    public var format: String?
    public var status: Status
    public var error: LabFileError?
    public var results: [HIVRNAResult]
    public var rejected: [RejectedRecord]
    /// Result ids withdrawn by `entered-in-error` (never stored; retract earlier copies).
    public var retracted: [String]
    /// Informational: records skipped (other tests, preliminary results), with line and reason.
    public var skipped: [SkippedRecord]
    public var warnings: [String]

    public init(
        file: String, format: String? = nil, status: Status, error: LabFileError? = nil, results: [HIVRNAResult],
        rejected: [RejectedRecord], retracted: [String], skipped: [SkippedRecord], warnings: [String]
    ) {
        self.file = file
        self.format = format
        self.status = status
        self.error = error
        self.results = results
        self.rejected = rejected
        self.retracted = retracted
        self.skipped = skipped
        self.warnings = warnings
    }
}
