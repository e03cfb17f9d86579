import CytoModel
import Foundation

/// The assay table: limits and IU factors with provenance (domain.md section 2). Matching by
/// kit/method text is case-insensitive on distinctive fragments.
public enum AssayTable {
    public static let known: [(fragments: [String], assay: AssayInfo)] = [
        (
            ["ampliprep", "taqman"],
            AssayInfo(
                id: "CAPCTM2", name: "COBAS AmpliPrep/COBAS TaqMan HIV-1 v2.0", unit: .copies, lod: 20, lloq: 20,
                uloq: 1e7, iuPerCopy: 1.7, provenance: "Roche package insert; WHO PQDx 0126-046-00")
        ),
        (
            ["cobas hiv-1", "6800"],
            AssayInfo(
                id: "COBAS-HIV1", name: "cobas HIV-1 (cobas 6800/8800)", unit: .copies, lod: 13.2, lloq: 20, uloq: 1e7,
                iuPerCopy: 1.67, provenance: "Roche package insert; Loetscher et al., J HIV AIDS")
        ),
        (
            ["cobas hiv-1"],
            AssayInfo(
                id: "COBAS-HIV1", name: "cobas HIV-1 (cobas 6800/8800)", unit: .copies, lod: 13.2, lloq: 20, uloq: 1e7,
                iuPerCopy: 1.67, provenance: "Roche package insert; Loetscher et al., J HIV AIDS")
        ),
        (
            ["realtime"],
            AssayInfo(
                id: "ABBOTT-RT", name: "Abbott RealTime HIV-1 (0.6 mL)", unit: .copies, lod: 40, lloq: 40, uloq: 1e7,
                iuPerCopy: 1.74, provenance: "Abbott package insert")
        ),
        (
            ["alinity"],
            AssayInfo(
                id: "ALINITY-M", name: "Abbott Alinity m HIV-1", unit: .copies, lod: 12, lloq: 20, uloq: 1e7,
                iuPerCopy: nil, provenance: "Abbott package insert (IU factor to verify)")
        ),
        (
            ["aptima"],
            AssayInfo(
                id: "APTIMA", name: "Hologic Aptima HIV-1 Quant Dx", unit: .copies, lod: 12, lloq: 30, uloq: 1e7,
                iuPerCopy: 2.86, provenance: "Hologic package insert (3rd WHO IS)")
        ),
        (
            ["amplicor"],
            AssayInfo(
                id: "AMPLICOR-MON", name: "Roche AMPLICOR HIV-1 MONITOR", unit: .copies, lod: nil, lloq: 400,
                uloq: 750_000, iuPerCopy: nil, provenance: "Roche package insert (1990s, pre-IU)")
        ),
        (
            ["bdna"],
            AssayInfo(
                id: "BDNA", name: "Chiron Quantiplex / Versant bDNA", unit: .equivalents, lod: nil, lloq: nil,
                uloq: nil, iuPerCopy: nil, provenance: "Chiron documentation (limits vary by version)")
        ),
    ]

    /// The assay a method or kit text names, if any.
    public static func match(_ text: String) -> AssayInfo? {
        let t = text.lowercased()
        return known.first { $0.fragments.allSatisfy { t.contains($0) } }?.assay
    }
}

/// A result string or value, classified (domain.md section 3).
public struct NormalizedString: Sendable, Hashable {
    public enum Form: Sendable, Hashable { case concentration, log10 }
    public var outcome: ViralLoadOutcome
    public var value: Double?
    public var form: Form
    public var unit: ConcentrationUnit?
    public var detected: Bool?
    public var failureCode: String?
}

/// Turns instrument and LIS result strings into canonical outcomes. Shared by every format.
public enum ResultNormalizer {
    public enum Failure: Error, Equatable {
        /// Text that is not a number, date or known form (e.g. a decimal comma).
        case badFormat(String)
        /// No rule matches (e.g. "Positive", a bare "Detected").
        case unrecognised(String)
    }

    static let failureWords: [String: String] = [
        "invalid": "INVALID", "failed": "FAILED", "failure": "FAILED", "error": "ERROR", "aborted": "ABORTED",
        "qns": "QNS",
        "indeterminate": "INDETERMINATE", "unsatisfactory": "UNSATISFACTORY",
    ]

    /// Parses a plain or scientific number with optional thousands groups of exactly three
    /// digits ("38,500", "10,000,000"). Decimal commas ("1,5E+04") are a format error.
    public static func number(_ s: Substring) throws(Failure) -> Double {
        let t = s.trimmed
        guard !t.isEmpty else { throw .badFormat("empty number") }
        var digits = t
        if t.contains(",") {
            let parts = t.split(separator: ",", omittingEmptySubsequences: false)
            let headOK = (1...3).contains(parts[0].count) && parts[0].allSatisfy(\.isNumber)
            let tailOK = parts.dropFirst().dropLast().allSatisfy { $0.count == 3 && $0.allSatisfy(\.isNumber) }
            let last = parts.last!
            let lastDigits = last.prefix { $0.isNumber }
            let lastOK = parts.count > 1 && lastDigits.count == 3 && (last.count == 3 || last.dropFirst(3).first == ".")
            guard headOK && tailOK && lastOK else {
                throw .badFormat("'\(t)' is not a number (decimal comma or malformed thousands groups)")
            }
            digits = t.replacingOccurrences(of: ",", with: "")
        }
        guard RecordChecks.isNumberText(digits), let v = Double(digits)
        else { throw .badFormat("'\(t)' is not a number") }
        return v
    }

    static func unit(in text: String) -> (unit: ConcentrationUnit?, log: Bool) {
        let t = text.lowercased()
        let log = t.contains("log")
        if t.contains("iu/ml") || t.contains("iu / ml") { return (.iu, log) }
        if t.contains("eq/ml") { return (.equivalents, log) }
        if t.contains("cp/ml") || t.contains("copies/ml") || t.contains("copies / ml") || t.contains("copies") {
            return (.copies, log)
        }
        return (nil, log)
    }

    /// Classifies a result string.
    public static func normalize(_ raw: String) throws(Failure) -> NormalizedString {
        let text = raw.trimmed
        let lower = text.lowercased()
        guard !lower.isEmpty else { throw .unrecognised("empty result") }
        let (unit, isLog) = unit(in: text)
        let form: NormalizedString.Form = isLog ? .log10 : .concentration
        // Not detected.
        if [
            "target not detected", "not detected", "tnd", "no hiv-1 rna detected", "hiv-1 rna not detected",
            "undetected",
        ].contains(lower)
            || lower.hasPrefix("target not detected") || lower.hasPrefix("not detected")
        {
            return NormalizedString(
                outcome: .notDetected, value: nil, form: .concentration, unit: unit, detected: false, failureCode: nil)
        }
        if let code = failureWords[lower] {
            return NormalizedString(
                outcome: .failed, value: nil, form: .concentration, unit: nil, detected: nil, failureCode: code)
        }
        // Comparators anywhere: "< 2.00E+01 cp/mL", "<30 Detected", "HIV-1 RNA detected, <20 copies/mL".
        for (symbol, outcome) in [("<", ViralLoadOutcome.belowLimit), (">", .aboveLimit)] {
            guard let r = text.range(of: symbol) else { continue }
            var rest = text[r.upperBound...]
            if rest.first == "=" { rest = rest.dropFirst() }
            let numberText = rest.trimmed.prefix { "0123456789.,eE+-".contains($0) }
            guard !numberText.isEmpty else { throw .badFormat("'\(text)': comparator without a number") }
            let v = try number(numberText[...])
            let prefix = text[..<r.lowerBound].lowercased()
            let suffix = rest.dropFirst(numberText.count).lowercased()
            let detected: Bool? =
                outcome == .belowLimit && (prefix.contains("detected") || suffix.contains("detected")) ? true : nil
            return NormalizedString(
                outcome: outcome, value: v, form: form, unit: unit, detected: detected, failureCode: nil)
        }
        // A plain number with an optional unit.
        let numberText = text.prefix { "0123456789.,eE+-".contains($0) }
        if !numberText.isEmpty {
            let rest = text.dropFirst(numberText.count).trimmed
            if rest.isEmpty || unit != nil || isLog {
                let v = try number(numberText[...])
                return NormalizedString(
                    outcome: .quantified, value: v, form: form, unit: unit, detected: true, failureCode: nil)
            }
        }
        throw .unrecognised("'\(text)' matches no result rule")
    }
}
